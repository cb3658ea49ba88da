from services.playback.server import main

main()
