from gateway.home.server import main

main()
