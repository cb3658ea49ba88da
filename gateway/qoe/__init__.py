"""The QoeService: players post QoE batches for their sessions (ownership checked against
playback, attribution to title/region/edge from playback, never from the client), batches go to
NATS (`vod.qoe.recorded`, through the outbox) and a durable consumer folds them into per
title/region/edge/rendition aggregates and Prometheus series; operators read the aggregates.
`python -m gateway.qoe` runs it."""
