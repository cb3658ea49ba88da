"""What client apps talk to: the GatewayService (home feed, a backend-for-frontend) in
`gateway.home`; the web app and the front door's client routes and auth live beside it."""
