from services.licensing.server import main

main()
