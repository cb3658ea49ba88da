"""Transcoding: resumable ingest, per-title ABR ladders, chunked parallel encoding, CMAF packaging
for HLS and DASH, an origin for published media, and crash-safe workers on a JetStream work queue."""
