from services.transcoding.server import main

main()
