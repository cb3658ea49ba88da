from services.experiments.server import main

main()
