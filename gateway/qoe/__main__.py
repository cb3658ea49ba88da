from gateway.qoe.server import main

main()
