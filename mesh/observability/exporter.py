"""Prometheus metrics for the two parts of the mesh that have no Prometheus endpoint of their own.

- `/metrics/edges`: the edges (nginx). The nginx wheel has no `stub_status` and no Prometheus
  module, and its JSON access log (`mesh.edge`, one object per request) is already the edges'
  counter (`vod edge stats` reads it too). The exporter tails every edge's log: each scrape reads
  only the lines appended since the last one and adds them to counters, so counters are exact
  (every request counted once) and a scrape costs what was logged since. A log that shrank (was
  rotated or truncated) is read again from its start.
- `/metrics/nats`: NATS JetStream. nats-server's monitoring port speaks JSON (`/jsz`), not the
  Prometheus format; each scrape reads `/jsz` and reports per-consumer lag (messages not yet
  delivered), messages delivered but not acknowledged, and the transcode job queue depth.
- `/metrics/supervisor`: the supervisor of `vod up` (mesh.supervisor). It records every
  component's pid, state and restart count in the mesh's state file on each change; each scrape
  reads that file and reports restarts (a counter per component since `vod up` started) and the
  state (RUNNING, STARTING, BACKOFF, CRASHLOOP) as a 1-valued gauge. A state file that is gone or
  unreadable reports `vod_supervisor_up 0` rather than stale numbers.

Run as `python -m mesh.observability.exporter --listen HOST:PORT --edge US=/path/access.log
--nats-monitor http://127.0.0.1:8222 --state-file VOD_HOME/run/state.json`; `mesh.prometheus`
starts it next to Prometheus.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "EDGE_METRICS",
    "JOBS_CONSUMER",
    "JOBS_STREAM",
    "NATS_METRICS",
    "SUPERVISOR_METRICS",
    "SUPERVISOR_STATES",
    "EdgeLogCollector",
    "JetStreamCollector",
    "SupervisorCollector",
    "serve",
]

JOBS_STREAM = "VOD_JOBS"
JOBS_CONSUMER = "transcode-workers"
"""The transcode work queue (services.transcoding.config: jobs_stream, jobs_durable)."""

EDGE_METRICS = (
    "vod_edge_requests_total",
    "vod_edge_cache_requests_total",
    "vod_edge_refusals_total",
    "vod_edge_sent_bytes_total",
    "vod_edge_log_unparsed_lines_total",
)
NATS_METRICS = (
    "vod_nats_monitor_up",
    "vod_jetstream_stream_messages",
    "vod_jetstream_consumer_pending_messages",
    "vod_jetstream_consumer_ack_pending_messages",
    "vod_jetstream_consumer_redelivered_messages",
    "vod_transcode_queue_depth",
)
"""Every metric name the exporter produces (the dashboard test checks panels against them)."""


class _LogTail:
    """Counters over one edge's access log, advanced by the lines appended since last time."""

    def __init__(self, region: str, path: Path) -> None:
        self.region = region
        self.path = path
        self.offset = 0
        self.by_status: Counter[str] = Counter()
        self.by_cache: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.bytes_by_cache: Counter[str] = Counter()
        self.unparsed = 0

    def advance(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return  # an edge that has served nothing yet
        if size < self.offset:
            self.offset = 0  # rotated or truncated: a new log, counted from its start
        if size == self.offset:
            return
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        complete = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
        self.offset += complete
        for raw in chunk[:complete].splitlines():
            if raw.strip():
                self._count(raw)

    def _count(self, raw: bytes) -> None:
        try:
            entry = json.loads(raw)
            status = str(int(entry["status"]))
            size = int(entry.get("bytes") or 0)
        except (ValueError, KeyError, TypeError):
            self.unparsed += 1
            return
        cache = entry.get("cache") or "-"
        cache = "NONE" if cache == "-" else str(cache)  # refused before reaching the cache
        self.by_status[status] += 1
        self.by_cache[cache] += 1
        self.bytes_by_cache[cache] += size
        reason = entry.get("reason") or "-"
        if reason != "-":
            self.refusals[str(reason)] += 1


class EdgeLogCollector(Collector):
    """`vod_edge_*` counters of every edge, labelled by region."""

    def __init__(self, logs: Mapping[str, Path]) -> None:
        self._tails = [_LogTail(region, Path(path)) for region, path in logs.items()]
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "vod_edge_requests",
            "Requests an edge answered, by HTTP status.",
            labels=["region", "status"],
        )
        cache = CounterMetricFamily(
            "vod_edge_cache_requests",
            "Requests by upstream cache status (HIT, MISS, EXPIRED, ...; NONE = refused before "
            "the cache).",
            labels=["region", "cache"],
        )
        refusals = CounterMetricFamily(
            "vod_edge_refusals", "Refused requests by reason.", labels=["region", "reason"]
        )
        sent = CounterMetricFamily(
            "vod_edge_sent_bytes",
            "Body bytes sent to clients, by cache status.",
            labels=["region", "cache"],
        )
        unparsed = CounterMetricFamily(
            "vod_edge_log_unparsed_lines", "Access log lines that were not JSON.", labels=["region"]
        )
        with self._lock:
            for tail in self._tails:
                tail.advance()
                r = tail.region
                for status, n in sorted(tail.by_status.items()):
                    requests.add_metric([r, status], n)
                # HIT and MISS always exist, so ratios are 0 rather than missing on a quiet edge.
                for status in sorted({"HIT", "MISS", *tail.by_cache}):
                    cache.add_metric([r, status], tail.by_cache.get(status, 0))
                    sent.add_metric([r, status], tail.bytes_by_cache.get(status, 0))
                for reason, n in sorted(tail.refusals.items()):
                    refusals.add_metric([r, reason], n)
                unparsed.add_metric([r], tail.unparsed)
        yield from (requests, cache, refusals, sent, unparsed)


class JetStreamCollector(Collector):
    """Stream sizes and consumer lag from nats-server's `/jsz` (JSON) on each scrape."""

    def __init__(self, monitor_url: str, timeout_s: float = 2.0) -> None:
        self._url = monitor_url.rstrip("/") + "/jsz?accounts=true&streams=true&consumers=true"
        self._timeout_s = timeout_s

    def read(self) -> dict | None:
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout_s) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def collect(self) -> Iterable[Metric]:
        jsz = self.read()
        up = GaugeMetricFamily("vod_nats_monitor_up", "1 when nats-server's /jsz answered.")
        up.add_metric([], 0 if jsz is None else 1)
        yield up
        if jsz is None:
            return
        stream_messages = GaugeMetricFamily(
            "vod_jetstream_stream_messages", "Messages stored in a stream.", labels=["stream"]
        )
        labels = ["stream", "consumer"]
        pending = GaugeMetricFamily(
            "vod_jetstream_consumer_pending_messages",
            "Consumer lag: messages in the stream not yet delivered to the consumer.",
            labels=labels,
        )
        ack_pending = GaugeMetricFamily(
            "vod_jetstream_consumer_ack_pending_messages",
            "Messages delivered to the consumer and not acknowledged yet (being worked on).",
            labels=labels,
        )
        redelivered = GaugeMetricFamily(
            "vod_jetstream_consumer_redelivered_messages",
            "Messages delivered more than once and not acknowledged yet.",
            labels=labels,
        )
        queue = GaugeMetricFamily(
            "vod_transcode_queue_depth",
            f"Transcode jobs waiting or running: {JOBS_CONSUMER}'s pending + ack-pending on "
            f"{JOBS_STREAM} (the stream's message count before any worker subscribed).",
        )
        depth: int | None = None
        for stream in _streams(jsz):
            name = str(stream.get("name", ""))
            stored = int((stream.get("state") or {}).get("messages", 0))
            stream_messages.add_metric([name], stored)
            for consumer in stream.get("consumer_detail") or []:
                key = [name, str(consumer.get("name", ""))]
                pending.add_metric(key, int(consumer.get("num_pending", 0)))
                ack_pending.add_metric(key, int(consumer.get("num_ack_pending", 0)))
                redelivered.add_metric(key, int(consumer.get("num_redelivered", 0)))
                if name == JOBS_STREAM and key[1] == JOBS_CONSUMER:
                    depth = int(consumer.get("num_pending", 0)) + int(
                        consumer.get("num_ack_pending", 0)
                    )
            if name == JOBS_STREAM and depth is None:
                depth = stored
        queue.add_metric([], depth or 0)
        yield from (stream_messages, pending, ack_pending, redelivered, queue)


SUPERVISOR_STATES = ("RUNNING", "STARTING", "BACKOFF", "CRASHLOOP", "DOWN")
"""What mesh.supervisor records per component (DOWN: recorded without a pid)."""
SUPERVISOR_METRICS = (
    "vod_supervisor_up",
    "vod_supervisor_restarts_total",
    "vod_supervisor_component_state",
)


class SupervisorCollector(Collector):
    """Restarts and states of `vod up`'s components, read from the mesh's state file."""

    def __init__(self, state_file: Path) -> None:
        self._path = Path(state_file)

    def read(self) -> dict | None:
        try:
            state = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def collect(self) -> Iterable[Metric]:
        state = self.read()
        processes = (state or {}).get("processes")
        up = GaugeMetricFamily(
            "vod_supervisor_up", "1 when the supervisor's state file was read (a mesh is up)."
        )
        up.add_metric([], 1 if isinstance(processes, dict) else 0)
        yield up
        if not isinstance(processes, dict):
            return
        restarts = CounterMetricFamily(
            "vod_supervisor_restarts",
            "Restarts of a component by the supervisor since `vod up` started it.",
            labels=["component"],
        )
        states = GaugeMetricFamily(
            "vod_supervisor_component_state",
            "1 for the component's current state (RUNNING, STARTING, BACKOFF, CRASHLOOP, DOWN).",
            labels=["component", "state"],
        )
        for name, record in sorted(processes.items()):
            if not isinstance(record, dict):
                continue
            count = record.get("restarts", 0)
            restarts.add_metric([name], count if isinstance(count, int) and count >= 0 else 0)
            current = record.get("state", "DOWN")
            for known in SUPERVISOR_STATES:
                states.add_metric([name, known], 1 if current == known else 0)
        yield from (restarts, states)


def _streams(jsz: dict) -> Iterator[dict]:
    for account in jsz.get("account_details") or []:
        yield from account.get("stream_detail") or []


def _handler(registries: Mapping[str, CollectorRegistry]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif path in registries:
                self._send(200, generate_latest(registries[path]), CONTENT_TYPE_LATEST)
            else:
                known = ", ".join(["/healthz", *registries])
                self._send(404, f"not found; paths: {known}\n".encode(), "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # Prometheus scrapes every few seconds; no line per scrape

    return Handler


def serve(
    host: str,
    port: int,
    edges: Mapping[str, Path],
    nats_monitor: str | None,
    state_file: Path | None = None,
) -> ThreadingHTTPServer:
    """The exporter's HTTP server (not yet serving: call `serve_forever`)."""
    registries: dict[str, CollectorRegistry] = {}
    edge_registry = CollectorRegistry(auto_describe=False)
    edge_registry.register(EdgeLogCollector(edges))
    registries["/metrics/edges"] = edge_registry
    if nats_monitor:
        nats_registry = CollectorRegistry(auto_describe=False)
        nats_registry.register(JetStreamCollector(nats_monitor))
        registries["/metrics/nats"] = nats_registry
    if state_file is not None:
        supervisor_registry = CollectorRegistry(auto_describe=False)
        supervisor_registry.register(SupervisorCollector(state_file))
        registries["/metrics/supervisor"] = supervisor_registry
    return ThreadingHTTPServer((host, port), _handler(registries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to serve /metrics/* on")
    parser.add_argument(
        "--edge", action="append", default=[], metavar="REGION=LOG", help="an edge's access log"
    )
    parser.add_argument("--nats-monitor", default="", help="nats-server monitoring base URL")
    parser.add_argument("--state-file", default="", help="the mesh's run/state.json (supervisor)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    edges: dict[str, Path] = {}
    for item in args.edge:
        region, sep, path = item.partition("=")
        if not sep or not region or not path:
            parser.error(f"--edge wants REGION=PATH, got {item!r}")
        edges[region] = Path(path)
    state_file = Path(args.state_file) if args.state_file else None
    server = serve(host, int(port), edges, args.nats_monitor or None, state_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"exporter: serving {', '.join(edges) or 'no'} edges on http://{args.listen}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
