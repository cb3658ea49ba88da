"""Licensing: content keys (envelope-encrypted at rest), licence policies per plan, ClearKey
licences and HLS AES-128 key delivery bound to playback sessions, and the licence audit."""
