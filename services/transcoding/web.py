"""HTTP listeners in front of the same logic as the gRPC API, on the standard library's
`ThreadingHTTPServer` (aiohttp is not installed and the two endpoints are small: a dependency
would save little). Handler threads hand work to the service's event loop with
`run_coroutine_threadsafe`.

* Origin (read-only): `GET`/`HEAD /titles/<title>/{renditions,manifests,thumbnails}/<media>/...`
  serves published media only (the media asset row must exist for that title), with byte ranges,
  content types, ETag/Last-Modified/304 and cache headers (segments immutable for a year,
  manifests five minutes). Sources, uploads and job staging are never served.
* Upload front for client apps: `PUT /upload/v1/uploads/{upload_id}?title=..&file_name=..&
  size_bytes=..&content_type=..&sha256=..` with `Content-Range: bytes <first>-<last>/<size>`;
  the body is cut into 4 MiB chunks and fed to the same `UploadDomain.receive` as a gRPC
  `Upload` stream (an optional `X-Chunk-Sha256` header checks a body of at most 4 MiB end to end;
  otherwise the whole-file SHA-256 does). Answers 308 with `Range: bytes=0-<committed-1>` while
  incomplete, 200 with the upload as JSON when complete; `GET` on the same path tells where to
  resume. Errors are JSON `google.rpc.Status`-like bodies with the reason and field violations.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import google_crc32c
from google.protobuf import json_format
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime import validation
from services.runtime.errors import DomainError, InvalidArgument
from services.runtime.logs import get_logger
from services.transcoding.store import ObjectStore, content_type_for
from services.transcoding.uploads import MAX_CHUNK, UploadDomain

__all__ = ["HttpListener", "origin_server", "upload_server"]

_log = get_logger("http")
_ORIGIN_PATH = re.compile(
    r"^titles/([a-z0-9][a-z0-9-]{0,62})/(renditions|manifests|thumbnails)/"
    r"([a-z0-9][a-z0-9-]{0,62})/[A-Za-z0-9._/-]+$"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 409,
    "OUT_OF_RANGE": 416,
    "DATA_LOSS": 422,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "UNAVAILABLE": 503,
}

Published = Callable[[str, str], Awaitable[bool]]


class HttpListener:
    """A ThreadingHTTPServer in a daemon thread."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> HttpListener:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _bind(address: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    host, _, port = address.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), handler)
    server.daemon_threads = True
    return server


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vodmesh-transcoding"

    def setup(self) -> None:
        super().setup()
        # Headers and a small body go out as separate writes; without TCP_NODELAY every small
        # object on a kept-alive connection (edges keep theirs) waited ~44 ms for Nagle and the
        # peer's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _log.debug("http", line=format % args)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(
        self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(
            status,
            json.dumps(doc).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


# -- origin -----------------------------------------------------------------------------------


def origin_server(
    address: str, store: ObjectStore, published: Published, loop: asyncio.AbstractEventLoop
) -> HttpListener:
    cache: set[tuple[str, str]] = set()

    class Origin(_Base):
        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            key = unquote(urlsplit(self.path).path).lstrip("/")
            match = _ORIGIN_PATH.match(key)
            if match is None or ".." in key.split("/"):
                return self._send(404)
            title, _folder, media = match.groups()
            if (title, media) not in cache:
                ok = asyncio.run_coroutine_threadsafe(published(title, media), loop).result(10)
                if not ok:
                    return self._send(404)
                cache.add((title, media))
            info = store.stat(key)
            if info is None:
                return self._send(404)
            immutable = not key.endswith((".m3u8", ".mpd"))
            headers = {
                "Content-Type": content_type_for(key),
                "Accept-Ranges": "bytes",
                "ETag": f'"{info.etag}"',
                "Last-Modified": formatdate(info.modified, usegmt=True),
                "Cache-Control": "public, max-age=31536000, immutable"
                if immutable
                else "public, max-age=300",
                "Access-Control-Allow-Origin": "*",
            }
            if self.headers.get("If-None-Match") == f'"{info.etag}"':
                return self._send(304, b"", headers)
            start, length, status = 0, info.size, 200
            requested = self.headers.get("Range")
            if requested:
                m = _RANGE.match(requested.strip())
                if m is None or (not m.group(1) and not m.group(2)):
                    return self._send(416, b"", {"Content-Range": f"bytes */{info.size}"})
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), info.size - 1) if m.group(2) else info.size - 1
                else:
                    start = max(0, info.size - int(m.group(2)))
                    end = info.size - 1
                if start >= info.size or end < start:
                    return self._send(416, b"", {"Content-Range": f"bytes */{info.size}"})
                length, status = end - start + 1, 206
                headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return None
            try:
                for block in store.read(key, start, length):
                    self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None

    return HttpListener(_bind(address, Origin))


def published_check(get_media: Callable[[str], Awaitable[Any]]) -> Published:
    async def check(title: str, media: str) -> bool:
        asset = await get_media(media)
        return asset is not None and asset.title == f"titles/{title}"

    return check


# -- upload front -----------------------------------------------------------------------------


def _status_doc(exc: DomainError) -> tuple[int, dict[str, Any]]:
    status = exc.to_status()
    name = exc.code.name
    details = []
    for any_msg in status.details:
        details.append({"@type": any_msg.type_url, "value": any_msg.value.hex()})
    doc: dict[str, Any] = {
        "code": name,
        "message": exc.message,
        "reason": exc.reason,
        "metadata": dict(exc.metadata),
    }
    violations = getattr(exc, "violations", ())
    if violations and hasattr(violations[0], "field"):
        doc["field_violations"] = [
            {"field": v.field, "description": v.description} for v in violations
        ]
    return _HTTP_STATUS.get(name, 500), doc


def upload_server(
    address: str, uploads: UploadDomain, loop: asyncio.AbstractEventLoop
) -> HttpListener:
    class Upload(_Base):
        def _upload_id(self) -> str | None:
            path = urlsplit(self.path).path
            prefix = "/upload/v1/uploads/"
            return path[len(prefix) :] if path.startswith(prefix) else None

        def do_GET(self) -> None:  # noqa: N802
            upload_id = self._upload_id()
            if not upload_id:
                return self._send(404)
            try:
                upload = asyncio.run_coroutine_threadsafe(
                    uploads.get(f"uploads/{upload_id}"), loop
                ).result(30)
            except DomainError as exc:
                return self._json(*_status_doc(exc))
            return self._reply(upload)

        def _reply(self, upload: pb.Upload) -> None:
            doc = json_format.MessageToDict(upload)
            headers = {}
            if upload.committed_offset:
                headers["Range"] = f"bytes=0-{upload.committed_offset - 1}"
            status = 308 if upload.state == pb.UPLOAD_STATE_UPLOADING else 200
            return self._json(status, doc, headers)

        def do_PUT(self) -> None:  # noqa: N802
            upload_id = self._upload_id()
            if not upload_id:
                return self._send(404)
            query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            try:
                header = pb.UploadHeader(
                    upload_id=upload_id,
                    title=query.get("title", ""),
                    file_name=query.get("file_name", ""),
                    size_bytes=int(query.get("size_bytes", "0") or 0),
                    content_type=query.get("content_type", "")
                    or self.headers.get("Content-Type", ""),
                    sha256=query.get("sha256", ""),
                )
            except ValueError:
                return self._json(
                    *_status_doc(InvalidArgument.for_field("size_bytes", "must be an integer"))
                )
            length = int(self.headers.get("Content-Length", "0") or 0)
            content_range = _CONTENT_RANGE.match(self.headers.get("Content-Range", "").strip())
            try:
                validation.check(header, "header.")
                if content_range is None:
                    raise InvalidArgument.for_field(
                        "Content-Range", "expected 'bytes <first>-<last>/<size>'"
                    )
                first, last, total = (int(g) for g in content_range.groups())
                if total != header.size_bytes or last < first or last - first + 1 != length:
                    raise InvalidArgument.for_field(
                        "Content-Range", "must match Content-Length and size_bytes"
                    )
            except DomainError as exc:
                if length:
                    self.rfile.read(length)
                return self._json(*_status_doc(exc))
            body_sha = self.headers.get("X-Chunk-Sha256", "").strip().lower()
            rfile = self.rfile

            async def requests() -> AsyncIterator[pb.UploadRequest]:
                yield pb.UploadRequest(header=header)
                offset, left = first, length
                while left > 0:
                    data = await asyncio.to_thread(rfile.read, min(MAX_CHUNK, left))
                    if not data:
                        return
                    chunk = pb.UploadChunk(offset=offset, data=data)
                    if body_sha and length <= MAX_CHUNK:
                        chunk.sha256 = body_sha
                    else:
                        chunk.crc32c = google_crc32c.value(data)
                    yield pb.UploadRequest(chunk=chunk)
                    offset += len(data)
                    left -= len(data)

            try:
                upload = asyncio.run_coroutine_threadsafe(uploads.receive(requests()), loop).result(
                    3600
                )
            except DomainError as exc:
                self.close_connection = True  # the rest of the body was not read
                return self._json(*_status_doc(exc))
            return self._reply(upload)

    return HttpListener(_bind(address, Upload))
