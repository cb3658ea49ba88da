"""The playback service: sessions, heartbeats, resume points and per-session manifests."""
