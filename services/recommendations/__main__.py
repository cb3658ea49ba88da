from services.recommendations.server import main

main()
