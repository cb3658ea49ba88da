"""The GatewayService: `GetHome` assembles a profile's home feed from playback (continue
watching), recommendations (top picks, because you watched) and search (trending, new releases),
each call with its own deadline and circuit breaker, and the title data and artwork of every
tile from one catalog `BatchGetTitles`. `python -m gateway.home` runs it."""
