"""Helpers of the edge tests: signed URLs, raw requests, waiting on the access log."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mesh.nginx import EmbeddedNginx
from services.runtime.playback_tokens import edge_url
from services.transcoding.store import FileSystemStore

SECRET = "edge-test-secret-0123456789abcdef-XYZ"

# title -> media -> track -> file -> size
OBJECTS: dict[str, dict[str, dict[str, dict[str, int]]]] = {
    "t-one": {
        "m1": {"v0": {"init.mp4": 1_234, "seg-00001.m4s": 300_001, "seg-00002.m4s": 4 << 20}}
    },
    "t-two": {"m2": {"a0": {"init.mp4": 987, "seg-00001.m4s": 65_536}}},
}


@dataclass
class Origin:
    """The origin and what it was asked: (method, path with query, Range header)."""

    host: str
    port: int
    store: FileSystemStore
    data: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def body(self, title: str, media: str, track: str, file: str) -> bytes:
        return self.data[f"/titles/{title}/renditions/{media}/{track}/{file}"]

    def seen(self, path: str | None = None) -> list[tuple[str, str, str | None]]:
        with self.lock:
            return [r for r in self.requests if path is None or r[1].split("?")[0] == path]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


def signed(
    edge: EmbeddedNginx,
    title: str = "t-one",
    media: str = "m1",
    track: str = "v0",
    file: str = "seg-00001.m4s",
    *,
    session: str = "viewer-1",
    region: str | None = None,
    expires: int | None = None,
    secret: str = SECRET,
) -> str:
    return edge_url(
        edge.base_url,
        secret,
        region=region or edge.spec.region,
        title=title,
        media=media,
        track=track,
        file=file,
        session=session,
        expires=int(time.time()) + 300 if expires is None else expires,
    )


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(
    edge: EmbeddedNginx, target: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Raw:
    """Send `target` byte for byte (httpx would normalise `..` and encodings away)."""
    conn = http.client.HTTPConnection(edge.spec.host, edge.spec.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return Raw(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` until it returns something truthy (log lines are written after the
    response is sent, so a client can be ahead of the log)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: {condition}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def log_entries(edge: EmbeddedNginx, count: int) -> list[dict[str, Any]]:
    """The access log once it holds exactly `count` lines."""

    def read() -> list[dict[str, Any]] | None:
        try:
            lines = edge.spec.access_log_path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return [json.loads(line) for line in lines] if len(lines) >= count else None

    entries = wait_for(read)
    assert len(entries) == count, entries
    return entries


def relative(url: str) -> str:
    """Path and query of an absolute URL."""
    return "/" + url.split("/", 3)[3]
