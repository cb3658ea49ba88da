"""HTTP listeners in front of the same logic as the gRPC API: aiohttp applications served on the
transcoding service's own event loop (no threads; blocking object-store calls go through
`asyncio.to_thread`, as the upload domain's do).

* Origin (read-only): `GET`/`HEAD /titles/<title>/{renditions,manifests,thumbnails}/<media>/...`
  serves published media only (the media asset row must exist for that title), with byte ranges,
  content types, ETag/Last-Modified/304 and cache headers (segments immutable for a year,
  manifests five minutes). Sources, uploads and job staging are never served. The path is matched
  on the raw request path (percent-escapes of unreserved characters decoded, nothing else), so
  `..`, `.`-segments, empty segments and encoded slashes are 404.
* Upload front for client apps: `PUT /upload/v1/uploads/{upload_id}?title=..&file_name=..&
  size_bytes=..&content_type=..&sha256=..` with `Content-Range: bytes <first>-<last>/<size>`;
  the body (framed by `Content-Length`, or chunked, bounded by the Content-Range span) is cut
  into 4 MiB chunks and fed to the same `UploadDomain.receive` as a gRPC `Upload` stream (an
  optional `X-Chunk-Sha256` header checks a body of at most 4 MiB end to end; otherwise the
  whole-file SHA-256 does). Answers 308 with `Range: bytes=0-<committed-1>` while incomplete, 200
  with the upload as JSON when complete; `GET` on the same path tells where to resume.

Hardening: every header value is parsed strictly (digits only, below 2^63) and a bad one is a 400
naming the header, before any body byte is read or any upload row is written; `Expect:
100-continue` is answered only after the headers passed. A rejected request's body is never
read: the answer goes out with `Connection: close` and the connection is closed (no lingering
read). A chunk is committed only once all its bytes arrived; a body that ends early (the client
closed), runs past the declared span, or stalls for longer than the read timeout
(`VOD_HTTP_READ_TIMEOUT_S`) commits nothing of the chunk in progress. Malformed requests the HTTP
parser itself refuses (a bad `Content-Length`, header lines over 8190 bytes, more than 128
headers) get the same JSON error bodies. Errors are JSON `google.rpc.Status`-like bodies
(`code`, `message`, `reason`, `metadata`, `field_violations`); no input produces a 5xx.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

import google_crc32c
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from google.protobuf import json_format
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime import validation
from services.runtime.errors import DomainError, InvalidArgument, OutOfRange
from services.runtime.logs import get_logger
from services.runtime.processes import shares_port
from services.transcoding.store import ObjectStore, content_type_for
from services.transcoding.uploads import MAX_CHUNK, UploadDomain

__all__ = ["HttpListener", "Middleware", "origin_server", "published_check", "upload_server"]

_log = get_logger("http")

DEFAULT_READ_TIMEOUT_S = 30.0
SHUTDOWN_GRACE_S = 5.0
"""On stop, requests in flight get this long to finish before their connections are closed."""
KEEPALIVE_TIMEOUT_S = 75.0
"""Idle keep-alive connections (and a client that never finishes its headers) are closed after
this; above nginx's 60 s upstream keepalive so an edge closes its idle connections first."""
MAX_LINE = 8190
MAX_HEADERS = 128
MAX_QUERY_FIELDS = 32
_INT64_MAX = 2**63 - 1

_ORIGIN_PATH = re.compile(
    r"titles/([a-z0-9][a-z0-9-]{0,62})/(renditions|manifests|thumbnails)/"
    r"([a-z0-9][a-z0-9-]{0,62})/[A-Za-z0-9._/-]+"
)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_UPLOAD_PATH = re.compile(r"/upload/v1/uploads/([^/?#]+)")
_DIGITS = r"([0-9]{1,19})"  # longer is never below 2^63; checked again after int()
_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")
_RANGE_SHAPE = re.compile(r"bytes=[0-9]*-[0-9]*(,.*)?")
_CONTENT_RANGE = re.compile(rf"bytes {_DIGITS}-{_DIGITS}/{_DIGITS}")
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 409,
    "OUT_OF_RANGE": 416,
    "DATA_LOSS": 422,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 408,
    "RESOURCE_EXHAUSTED": 429,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
}

Published = Callable[[str, str], Awaitable[bool]]
Middleware = Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    Awaitable[web.StreamResponse],
]


# -- errors -----------------------------------------------------------------------------------


class _Refused(Exception):
    """An HTTP-level refusal with no gRPC counterpart (408, 405, 431, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        message: str,
        *,
        field: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.reason = reason
        self.message = message
        self.field = field
        self.headers = headers or {}


def _doc(
    code: str, reason: str, message: str, field: str = "", metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "code": code,
        "message": message,
        "reason": reason,
        "metadata": metadata or {},
    }
    if field:
        doc["field_violations"] = [{"field": field, "description": message}]
    return doc


def _status_doc(exc: DomainError) -> tuple[int, dict[str, Any]]:
    name = exc.code.name
    doc = _doc(name, exc.reason, exc.message, metadata=dict(exc.metadata))
    violations = getattr(exc, "violations", ())
    if violations and hasattr(violations[0], "field"):
        doc["field_violations"] = [
            {"field": v.field, "description": v.description} for v in violations
        ]
    elif getattr(exc, "field", ""):
        doc["field_violations"] = [{"field": exc.field, "description": exc.message}]  # type: ignore[attr-defined]
    return _HTTP_STATUS.get(name, 500), doc


def _json(
    status: int, doc: dict[str, Any], headers: dict[str, str] | None = None, *, close: bool
) -> web.Response:
    response = web.Response(
        status=status,
        body=json.dumps(doc).encode(),
        content_type="application/json",
        headers=headers,
    )
    if close:
        response.force_close()
    return response


def _bad_header(name: str, description: str) -> InvalidArgument:
    return InvalidArgument.for_field(name, description)


def _int(value: str, name: str, what: str = "a decimal integer") -> int:
    """A non-negative decimal below 2^63 (no sign, no spaces, no underscores), else a 400."""
    if not re.fullmatch(_DIGITS, value):
        raise _bad_header(name, f"must be {what} (digits only, below 2^63)")
    number = int(value)
    if number > _INT64_MAX:
        raise _bad_header(name, f"must be {what} below 2^63")
    return number


@web.middleware
async def _never_5xx_on_input(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Domain errors and refusals become JSON statuses; a request whose body was not read to its
    end is answered with `Connection: close` (the unread rest is never read)."""
    try:
        return await handler(request)
    except DomainError as exc:
        status, doc = _status_doc(exc)
        return _json(status, doc, close=not request.content.at_eof())
    except _Refused as exc:
        return _json(
            exc.status,
            _doc(exc.code, exc.reason, exc.message, exc.field),
            exc.headers,
            close=not request.content.at_eof(),
        )
    except web.HTTPException as exc:
        reason = exc.reason.upper().replace(" ", "_")
        return _json(exc.status, _doc(reason, reason, exc.reason), close=True)
    except ConnectionError:
        raise  # the client went away: nobody to answer (aiohttp drops the connection)
    except TimeoutError:
        _log.warning("http.dependency_timeout", path=request.path)
        doc = _doc("UNAVAILABLE", "DEPENDENCY_TIMEOUT", "a dependency did not answer in time")
        return _json(503, doc, {"Retry-After": "1"}, close=not request.content.at_eof())
    except Exception:
        _log.exception("http.unhandled", path=request.path)
        return _json(500, _doc("INTERNAL", "INTERNAL", "internal error"), close=True)


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler, answering what its HTTP parser refuses (a bad
    Content-Length, oversized or too many header lines) with the same JSON bodies."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started")
        text = str(message or exc.message or "")
        if isinstance(exc, LineTooLong) or "Too many headers" in text:
            doc = _doc(
                "INVALID_ARGUMENT",
                "HEADERS_TOO_LARGE",
                f"the request line and each header line are at most {MAX_LINE} bytes, "
                f"and at most {MAX_HEADERS} headers are accepted",
                "headers",
            )
            status = 431
        else:
            field = next(
                (
                    h
                    for h in ("Content-Length", "Transfer-Encoding", "Host", "Expect")
                    if h.lower() in text.lower()
                ),
                "",
            )
            what = f"invalid {field} header" if field else "malformed HTTP request"
            doc = _doc("INVALID_ARGUMENT", "MALFORMED_REQUEST", what, field)
            status = 400
        _log.info("http.malformed", status=status, field=doc.get("field_violations"))
        return _json(status, doc, close=True)


# -- listener ---------------------------------------------------------------------------------


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.create_server(
        (host or "127.0.0.1", int(port)), backlog=128, reuse_port=shares_port()
    )
    sock.setblocking(False)
    return sock


class HttpListener:
    """An aiohttp application on a socket bound at construction (so `port` is known at once),
    served on the event loop that awaits `start()` until `stop()`."""

    def __init__(self, app: web.Application, address: str) -> None:
        self.app = app
        self._sock = _bind(address)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        self._server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> HttpListener:
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        manager = self._runner.server
        assert manager is not None

        def protocol() -> _Protocol:
            return _Protocol(
                manager,
                loop=loop,
                access_log=None,  # type: ignore[arg-type]  # aiohttp accepts None: no access log
                keepalive_timeout=KEEPALIVE_TIMEOUT_S,
                max_line_size=MAX_LINE,
                max_field_size=MAX_LINE,
                max_headers=MAX_HEADERS,
                lingering_time=0,  # a rejected body is never read, not even to discard it
            )

        self._server = await loop.create_server(protocol, sock=self._sock)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        else:
            self._sock.close()
        await self._runner.cleanup()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _application(
    handler: Handler,
    middlewares: Sequence[Middleware],
    expect: Callable[[web.Request], Awaitable[web.StreamResponse | None]] | None = None,
) -> web.Application:
    """One catch-all route (the handlers match the raw path themselves)."""
    app = web.Application(middlewares=[*middlewares, _never_5xx_on_input])  # type: ignore[list-item]  # aiohttp's Middleware alias is narrower than the protocol it calls
    app.router.add_route("*", "/{tail:.*}", handler, expect_handler=expect)
    app.on_response_prepare.append(_server_header)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "vodmesh-transcoding"


# -- origin -----------------------------------------------------------------------------------


def _origin_key(raw_path: str) -> str | None:
    """The object key a raw request path names, or None when it is not a published media path:
    percent-escapes of unreserved characters are decoded, any other escape (an encoded slash,
    NUL, ...) refuses the path, as do empty, `.`, `..` and dot-leading segments."""
    path = _ESCAPE.sub(
        lambda m: ch if (ch := chr(int(m.group(1), 16))) in _UNRESERVED else m.group(0),
        raw_path.split("?", 1)[0],
    )
    key = path.removeprefix("/")
    if not path.startswith("/") or _ORIGIN_PATH.fullmatch(key) is None:
        return None
    if any(not part or part.startswith(".") for part in key.split("/")):
        return None
    return key


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) of a single `Range: bytes=...` against an object of `size` bytes; None for a
    range set this origin does not serve partially (several ranges: the whole object)."""
    value = header.strip()
    match = _RANGE.fullmatch(value)
    if match is None:
        if _RANGE_SHAPE.fullmatch(value) and "," in value:
            return None  # a multi-range request: served whole (RFC 9110 lets a server ignore it)
        raise _bad_header(
            "Range", "expected 'bytes=<first>-<last>', 'bytes=<first>-' or 'bytes=-<n>'"
        )
    first, last = match.groups()
    unsatisfiable = OutOfRange(
        message=f"the range is not satisfiable for an object of {size} bytes",
        reason="RANGE_NOT_SATISFIABLE",
        field="Range",
        metadata={"size": str(size)},
    )
    if not first and not last:
        raise _bad_header("Range", "a range needs a first byte, a last byte or both")
    if first:
        start = _int(first, "Range", "a byte offset")
        end = size - 1 if not last else min(_int(last, "Range", "a byte offset"), size - 1)
        if last and int(last) < start:
            raise _bad_header("Range", "the last byte is before the first")
    else:
        suffix = _int(last, "Range", "a byte count")
        if suffix == 0:
            raise unsatisfiable
        start, end = max(0, size - suffix), size - 1
    if start >= size:
        raise unsatisfiable
    return start, end


def origin_server(
    address: str,
    store: ObjectStore,
    published: Published,
    *,
    middlewares: Sequence[Middleware] = (),
) -> HttpListener:
    """The read-only origin (not started: `await listener.start()`). `middlewares` run outside
    the error handling (observability; the edge tests record requests with one)."""
    cache: set[tuple[str, str]] = set()

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise _Refused(
                405,
                "METHOD_NOT_ALLOWED",
                "METHOD_NOT_ALLOWED",
                "GET or HEAD only",
                headers={"Allow": "GET, HEAD"},
            )
        key = _origin_key(request.raw_path)
        if key is None:
            return _not_found()
        match = _ORIGIN_PATH.fullmatch(key)
        assert match is not None
        title, _folder, media = match.groups()
        if (title, media) not in cache:
            if not await asyncio.wait_for(published(title, media), 10):
                return _not_found()
            cache.add((title, media))
        info = await asyncio.to_thread(store.stat, key)
        if info is None:
            return _not_found()
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
        if request.headers.get("If-None-Match") == f'"{info.etag}"':
            return web.Response(status=304, headers=headers)
        start, length, status = 0, info.size, 200
        requested = request.headers.get("Range")
        if requested is not None:
            try:
                span = _byte_range(requested, info.size)
            except OutOfRange as exc:
                code, doc = _status_doc(exc)
                refused = {
                    "Content-Range": f"bytes */{info.size}",
                    "Access-Control-Allow-Origin": "*",
                }
                return _json(code, doc, refused, close=False)
            if span is not None:
                start, end = span
                length, status = end - start + 1, 206
                headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(request)
        if request.method == "HEAD" or length == 0:
            return response
        await _stream_object(request, response, store.read(key, start, length), length)
        return response

    return HttpListener(_application(serve, middlewares), address)


def _not_found() -> web.Response:
    return _json(404, _doc("NOT_FOUND", "NOT_FOUND", "no such published object"), close=False)


async def _stream_object(
    request: web.Request, response: web.StreamResponse, blocks: Iterator[bytes], length: int
) -> None:
    sent = 0
    try:
        while (block := await asyncio.to_thread(next, blocks, None)) is not None:
            await response.write(block)
            sent += len(block)
    except ConnectionError:
        return  # the client went away
    finally:
        close = getattr(blocks, "close", None)  # the stores' readers are generators
        if close is not None:
            await asyncio.to_thread(close)
    if sent != length:  # the object changed under us: never pass a short body off as whole
        _log.warning("origin.short_read", path=request.path, sent=sent, length=length)
        if request.transport is not None:
            request.transport.close()


def published_check(get_media: Callable[[str], Awaitable[Any]]) -> Published:
    async def check(title: str, media: str) -> bool:
        asset = await get_media(media)
        return asset is not None and asset.title == f"titles/{title}"

    return check


# -- upload front -----------------------------------------------------------------------------


class _Put:
    """A PUT whose headers passed: what to tell the domain and how much body to read."""

    def __init__(self, header: pb.UploadHeader, first: int, span: int, chunk_sha: str) -> None:
        self.header = header
        self.first = first
        self.span = span
        self.chunk_sha = chunk_sha


def _query(request: web.Request) -> dict[str, str]:
    raw = request.raw_path.partition("?")[2]
    try:
        parsed = parse_qs(raw, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:
        raise _bad_header("query", f"at most {MAX_QUERY_FIELDS} query parameters") from exc
    return {k: v[-1] for k, v in parsed.items()}


def _parse_put(request: web.Request, upload_id: str) -> _Put:
    """Every check that needs no body byte and no database row; raises a 400 naming the field."""
    query = _query(request)
    size = _int(query.get("size_bytes", "") or "0", "size_bytes")
    header = pb.UploadHeader(
        upload_id=upload_id,
        title=query.get("title", ""),
        file_name=query.get("file_name", ""),
        size_bytes=size,
        content_type=query.get("content_type", "") or request.headers.get("Content-Type", ""),
        sha256=query.get("sha256", ""),
    )
    validation.check(header, "header.")
    content_range = request.headers.get("Content-Range")
    if content_range is None:
        raise _bad_header("Content-Range", "required: 'bytes <first>-<last>/<size>'")
    match = _CONTENT_RANGE.fullmatch(content_range.strip())
    if match is None:
        raise _bad_header(
            "Content-Range", "expected 'bytes <first>-<last>/<size>' with decimal byte offsets"
        )
    first, last, total = (_int(g, "Content-Range", "a byte offset") for g in match.groups())
    if total != header.size_bytes:
        raise _bad_header("Content-Range", f"the size must equal size_bytes ({header.size_bytes})")
    if last < first:
        raise _bad_header("Content-Range", "the last byte is before the first")
    if last >= total:
        raise OutOfRange(
            message=f"the range ends past size_bytes {total}",
            reason="CHUNK_PAST_END",
            field="Content-Range",
            metadata={"size_bytes": str(total)},
        )
    span = last - first + 1
    declared = request.headers.get("Content-Length")
    if declared is not None:
        if _int(declared.strip(), "Content-Length") != span:
            raise _bad_header("Content-Length", f"must equal the Content-Range span ({span} bytes)")
    elif "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        raise _bad_header("Content-Length", f"required: the Content-Range span ({span} bytes)")
    chunk_sha = request.headers.get("X-Chunk-Sha256", "").strip().lower()
    if chunk_sha and not re.fullmatch(r"[0-9a-f]{64}", chunk_sha):
        raise _bad_header("X-Chunk-Sha256", "must be 64 hex digits (the body's SHA-256)")
    return _Put(header, first, span, chunk_sha)


class _Body:
    """A request body read in bounded pieces; each read waits at most `timeout_s`."""

    def __init__(self, request: web.Request, span: int, timeout_s: float) -> None:
        self._content = request.content
        self._span = span
        self._timeout = timeout_s
        self.received = 0

    async def take(self, size: int) -> bytes:
        """Exactly `size` bytes; a 400 if the body ends first."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            data = await self._read(size - got)
            if not data:
                raise _Refused(
                    400,
                    "INVALID_ARGUMENT",
                    "BODY_TOO_SHORT",
                    f"the body ended after {self.received} of the {self._span} bytes the "
                    "Content-Range declares; the unfinished chunk was not committed",
                    field="body",
                )
            parts.append(data)
            got += len(data)
            self.received += len(data)
        return b"".join(parts)

    async def at_end(self) -> None:
        """A 400 unless the body ends here (a chunked body may run past the declared span)."""
        if await self._read(1):
            raise _Refused(
                400,
                "INVALID_ARGUMENT",
                "BODY_TOO_LONG",
                f"the body is longer than the {self._span} bytes the Content-Range declares; "
                "its last chunk was not committed",
                field="body",
            )

    async def _read(self, size: int) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._content.read(size)
        except TimeoutError as exc:
            raise _Refused(
                408,
                "DEADLINE_EXCEEDED",
                "BODY_READ_TIMEOUT",
                f"no body bytes arrived for {self._timeout:g} s; the unfinished chunk was not "
                "committed and the connection is closed",
                field="body",
            ) from exc
        except (ConnectionError, HttpProcessingError) as exc:
            raise _Refused(
                400,
                "INVALID_ARGUMENT",
                "BODY_INCOMPLETE",
                "the body was cut off (the connection closed or its framing is broken); the "
                "unfinished chunk was not committed",
                field="body",
            ) from exc


def _reply(upload: pb.Upload) -> web.Response:
    headers = {}
    if upload.committed_offset:
        headers["Range"] = f"bytes=0-{upload.committed_offset - 1}"
    status = 308 if upload.state == pb.UPLOAD_STATE_UPLOADING else 200
    return _json(status, json_format.MessageToDict(upload), headers, close=False)


def upload_server(
    address: str,
    uploads: UploadDomain,
    *,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    middlewares: Sequence[Middleware] = (),
) -> HttpListener:
    """The resumable upload front (not started: `await listener.start()`)."""

    def upload_id_of(request: web.Request) -> str | None:
        match = _UPLOAD_PATH.fullmatch(request.raw_path.partition("?")[0])
        return match.group(1) if match else None

    async def handle(request: web.Request) -> web.StreamResponse:
        upload_id = upload_id_of(request)
        if upload_id is None:
            return _json(404, _doc("NOT_FOUND", "NOT_FOUND", "no such path"), close=False)
        if request.method == "GET":
            return _reply(await uploads.get(f"uploads/{upload_id}"))
        if request.method != "PUT":
            raise _Refused(
                405,
                "METHOD_NOT_ALLOWED",
                "METHOD_NOT_ALLOWED",
                "GET or PUT only",
                headers={"Allow": "GET, PUT"},
            )
        put = _parse_put(request, upload_id)
        body = _Body(request, put.span, read_timeout_s)

        async def requests() -> AsyncIterator[pb.UploadRequest]:
            yield pb.UploadRequest(header=put.header)
            offset, left = put.first, put.span
            while left > 0:
                data = await body.take(min(MAX_CHUNK, left))
                left -= len(data)
                if left == 0:
                    await body.at_end()  # before the last chunk is committed
                chunk = pb.UploadChunk(offset=offset, data=data)
                if put.chunk_sha and put.span <= MAX_CHUNK:
                    chunk.sha256 = put.chunk_sha
                else:
                    chunk.crc32c = google_crc32c.value(data)
                yield pb.UploadRequest(chunk=chunk)
                offset += len(data)

        try:
            upload = await uploads.receive(requests())
        except _Refused as exc:
            _log.info(
                "upload.body_refused",
                upload=upload_id,
                reason=exc.reason,
                received=body.received,
                span=put.span,
            )
            raise
        return _reply(upload)

    async def expect(request: web.Request) -> web.StreamResponse | None:
        """`Expect: 100-continue`: the headers are checked first, so a refused upload's body is
        never sent."""

        async def check(request: web.Request) -> web.StreamResponse:
            upload_id = upload_id_of(request)
            if request.method == "PUT" and upload_id is not None:
                _parse_put(request, upload_id)
            if request.headers.get("Expect", "").lower() != "100-continue":
                raise _Refused(
                    417,
                    "INVALID_ARGUMENT",
                    "EXPECTATION_FAILED",
                    "only 100-continue",
                    field="Expect",
                )
            if request.version >= (1, 1):
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                request.writer.output_size = 0
            return _CONTINUE

        response = await _never_5xx_on_input(request, check)
        if response is _CONTINUE:
            return None
        response.force_close()
        return response

    return HttpListener(_application(handle, middlewares, expect), address)


_CONTINUE = web.StreamResponse(status=100)
