from services.search.server import main

main()
