"""The origin and the HTTP upload front (aiohttp, on the service's event loop) under hostile input:
malformed headers are clean 4xx JSON statuses naming the header, a refused request's body is
never read, bodies that end early, run long or stall commit nothing of the unfinished chunk, and
no path leaves the published tree. Requests go over raw sockets: most of these are requests a
real HTTP client refuses to send."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from vod.transcoding.v1 import transcoding_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.transcoding.config import TranscodingSettings, load_settings
from services.transcoding.server import Running, running
from services.transcoding.store import FileSystemStore
from services.transcoding.uploads import MAX_CHUNK
from services.transcoding.web import HttpListener, origin_server
from tests.transcoding.helpers import make_video

GUARD_S = 20.0  # an upper bound on waiting for an answer or a close, never a sleep
READ_TIMEOUT_S = 0.5
BIG = 2**63


# -- raw HTTP -----------------------------------------------------------------------------------


@dataclass
class Reply:
    version: str
    status: int
    headers: dict[str, str]
    body: bytes
    interim: list[int] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def violations(self) -> dict[str, str]:
        return {v["field"]: v["description"] for v in self.json().get("field_violations", [])}


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    interim: list[int] = []
    while True:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD_S)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split()[0], int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), GUARD_S) if length else b""
        return Reply(version, status, headers, body, interim)


def says_close(reply: Reply) -> bool:
    return reply.headers.get("connection") == "close" or reply.version == "HTTP/1.0"


async def is_closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed the connection (waits for the close, bounded by GUARD_S)."""
    try:
        return await asyncio.wait_for(reader.read(1), GUARD_S) == b""
    except ConnectionResetError:
        return True


@asynccontextmanager
async def connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def exchange(port: int, request: bytes) -> tuple[Reply, bool]:
    """Send `request` as is; the reply and whether it closes the connection (when it says so,
    the close itself is awaited and required)."""
    async with connection(port) as (reader, writer):
        writer.write(request)
        await writer.drain()
        reply = await read_reply(reader)
        if not says_close(reply):
            return reply, False
        assert await is_closed(reader)
        return reply, True


def put_head(
    upload_id: str,
    size: int,
    sha: str,
    headers: dict[str, str],
    *,
    size_bytes: str | None = None,
) -> bytes:
    query = (
        f"title=titles/hardening&file_name=clip.mp4&size_bytes={size_bytes or size}"
        f"&content_type=video/mp4&sha256={sha}"
    )
    lines = [f"PUT /upload/v1/uploads/{upload_id}?{query} HTTP/1.1", "Host: vod"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sized(data: bytes, first: int, last: int, extra: dict[str, str] | None = None) -> dict:
    return {
        "Content-Range": f"bytes {first}-{last}/{len(data)}",
        "Content-Length": str(last - first + 1),
        **(extra or {}),
    }


def chunked(body: bytes, piece: int = 1000) -> bytes:
    out = b""
    for i in range(0, len(body), piece):
        part = body[i : i + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_video(
        tmp_path_factory.mktemp("hard") / "clip.mp4", seconds=2, size="320x240"
    ).read_bytes()


@pytest.fixture(scope="module")
async def hardened(tc_settings: TranscodingSettings) -> AsyncIterator[Running]:
    """The production `running()` with a short body read timeout."""
    settings = replace(tc_settings, http_read_timeout_s=READ_TIMEOUT_S)
    async with running(settings, serve_metrics=False) as run:
        yield run


@pytest.fixture(scope="module")
async def stub(hardened: Running) -> AsyncIterator[transcoding_pb2_grpc.TranscodingServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hardened.port}") as channel:
        yield transcoding_pb2_grpc.TranscodingServiceStub(channel)


async def committed(stub: transcoding_pb2_grpc.TranscodingServiceStub, upload_id: str) -> int:
    reply = await stub.GetUpload(pb.GetUploadRequest(name=f"uploads/{upload_id}"))
    return reply.upload.committed_offset


async def assert_no_upload(
    stub: transcoding_pb2_grpc.TranscodingServiceStub, run: Running, upload_id: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetUpload(pb.GetUploadRequest(name=f"uploads/{upload_id}"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert await run.repository.get_upload(upload_id) is None


async def start_upload(run: Running, upload_id: str, data: bytes, first_bytes: int) -> str:
    """An upload with `first_bytes` committed; its whole-file SHA-256."""
    sha = hashlib.sha256(data).hexdigest()
    reply, closed = await exchange(
        run.upload_port,
        put_head(upload_id, len(data), sha, sized(data, 0, first_bytes - 1)) + data[:first_bytes],
    )
    assert (reply.status, reply.headers["range"], closed) == (
        308,
        f"bytes=0-{first_bytes - 1}",
        False,
    )
    return sha


# -- refused requests: the body is never read ---------------------------------------------------


async def test_a_refused_upload_is_answered_without_reading_its_body(
    hardened: Running, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    # 128 GiB declared, only the headers sent: the answer cannot wait for the body
    head = put_head("hard-refused", 2**37, "a" * 64, {"Content-Length": str(2**37)})
    async with connection(hardened.upload_port) as (reader, writer):
        writer.write(head)  # and never the body
        await writer.drain()
        reply = await read_reply(reader)
        assert reply.status == 400
        assert reply.headers["connection"] == "close"
        assert reply.json()["code"] == "INVALID_ARGUMENT"
        assert reply.violations() == {"Content-Range": "required: 'bytes <first>-<last>/<size>'"}
        assert await is_closed(reader)
    await assert_no_upload(stub, hardened, "hard-refused")


async def test_expect_100_continue_is_refused_before_the_body_is_sent(
    hardened: Running, source: bytes, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    sha = hashlib.sha256(source).hexdigest()
    headers = sized(source, 0, len(source) - 1, {"Expect": "100-continue"})
    headers["Content-Length"] = str(len(source) + 1)  # disagrees with the range
    reply, closed = await exchange(
        hardened.upload_port, put_head("hard-expect", len(source), sha, headers)
    )
    assert (reply.status, reply.interim, closed) == (400, [], True)
    assert reply.violations() == {
        "Content-Length": f"must equal the Content-Range span ({len(source)} bytes)"
    }
    await assert_no_upload(stub, hardened, "hard-expect")

    # the same upload with matching headers: 100 Continue, then the body, then 200
    headers = sized(source, 0, len(source) - 1, {"Expect": "100-continue"})
    async with connection(hardened.upload_port) as (reader, writer):
        writer.write(put_head("hard-expect", len(source), sha, headers))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD_S)
        assert head == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(source)
        await writer.drain()
        reply = await read_reply(reader)
    assert (reply.status, reply.json()["state"]) == (200, "UPLOAD_STATE_COMPLETED")
    assert await committed(stub, "hard-expect") == len(source)


# -- header values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["abc", "-5", "+5", "0x10", "1,1", "9" * 3000, str(2**64), str(BIG)],
    ids=["word", "negative", "plus", "hex", "list", "3000-digits", "2^64", "2^63"],
)
async def test_a_malformed_content_length_is_a_400_naming_it(hardened: Running, value: str) -> None:
    head = put_head("hard-cl", 10, "a" * 64, {"Content-Range": "bytes 0-9/10"})
    head = head[:-2] + f"Content-Length: {value}\r\n\r\n".encode()
    reply, closed = await exchange(hardened.upload_port, head)
    assert (reply.status, reply.headers["content-type"], closed) == (
        400,
        "application/json",
        True,
    )
    doc = reply.json()
    assert doc["code"] == "INVALID_ARGUMENT"
    assert list(reply.violations()) == ["Content-Length"]


@pytest.mark.parametrize(
    ("value", "description"),
    [
        ("bytes abc-9/10", "expected 'bytes <first>-<last>/<size>' with decimal byte offsets"),
        ("bytes -1-9/10", "expected 'bytes <first>-<last>/<size>' with decimal byte offsets"),
        ("bytes 0-9/-10", "expected 'bytes <first>-<last>/<size>' with decimal byte offsets"),
        (
            "bytes 0-" + "9" * 5000 + "/10",
            "expected 'bytes <first>-<last>/<size>' with decimal byte offsets",
        ),
        (
            "bytes 0-9/" + "1" * 5000,
            "expected 'bytes <first>-<last>/<size>' with decimal byte offsets",
        ),
        (f"bytes 0-{BIG}/10", "must be a byte offset below 2^63"),
        ("bytes 9-0/10", "the last byte is before the first"),
        ("bytes 0-9/11", "the size must equal size_bytes (10)"),
    ],
    ids=[
        "word",
        "negative",
        "negative-size",
        "5000-digits",
        "5000-digit-size",
        "2^63",
        "reversed",
        "size",
    ],
)
async def test_a_malformed_content_range_is_a_400_naming_it(
    hardened: Running,
    stub: transcoding_pb2_grpc.TranscodingServiceStub,
    value: str,
    description: str,
) -> None:
    head = put_head("hard-cr", 10, "a" * 64, {"Content-Range": value, "Content-Length": "10"})
    reply, closed = await exchange(hardened.upload_port, head + b"0123456789")
    assert (reply.status, closed) == (400, True)
    assert reply.violations() == {"Content-Range": description}
    await assert_no_upload(stub, hardened, "hard-cr")


async def test_a_first_offset_of_2_63_is_a_400_and_leaves_no_upload(
    hardened: Running, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    # size_bytes and the range's size agree and the span matches Content-Length: only the
    # offset is out of range (the stdlib front created the upload row, then failed in protobuf)
    head = put_head(
        "hard-2-63",
        1000,
        "b" * 64,
        {"Content-Range": f"bytes {BIG}-{BIG}/1000", "Content-Length": "1"},
    )
    reply, closed = await exchange(hardened.upload_port, head + b"x")
    assert (reply.status, closed) == (400, True)
    assert reply.violations() == {"Content-Range": "must be a byte offset below 2^63"}
    await assert_no_upload(stub, hardened, "hard-2-63")

    # below 2^63 but past the declared size: refused before any row is written too
    head = put_head(
        "hard-2-63",
        1000,
        "b" * 64,
        {"Content-Range": f"bytes {BIG - 1}-{BIG - 1}/1000", "Content-Length": "1"},
    )
    reply, closed = await exchange(hardened.upload_port, head + b"x")
    assert (reply.status, reply.json()["reason"], closed) == (416, "CHUNK_PAST_END", True)
    assert list(reply.violations()) == ["Content-Range"]
    await assert_no_upload(stub, hardened, "hard-2-63")


@pytest.mark.parametrize(
    "value", ["-1", "12abc", "9" * 5000, str(BIG)], ids=["negative", "word", "5000-digits", "2^63"]
)
async def test_a_malformed_size_bytes_is_a_400_naming_it(
    hardened: Running, stub: transcoding_pb2_grpc.TranscodingServiceStub, value: str
) -> None:
    head = put_head(
        "hard-size",
        10,
        "a" * 64,
        {"Content-Range": "bytes 0-9/10", "Content-Length": "10"},
        size_bytes=value,
    )
    reply, closed = await exchange(hardened.upload_port, head + b"0123456789")
    assert (reply.status, closed) == (400, True)
    assert list(reply.violations()) == ["size_bytes"]
    await assert_no_upload(stub, hardened, "hard-size")


async def test_oversized_headers_are_a_431(hardened: Running) -> None:
    long_line = b"GET /upload/v1/uploads/x HTTP/1.1\r\nHost: vod\r\nX-Pad: " + b"a" * 9000
    reply, closed = await exchange(hardened.upload_port, long_line + b"\r\n\r\n")
    assert (reply.status, reply.json()["reason"], closed) == (431, "HEADERS_TOO_LARGE", True)
    assert list(reply.violations()) == ["headers"]

    many = b"".join(b"X-H%d: a\r\n" % i for i in range(200))
    reply, closed = await exchange(
        hardened.origin_port,
        b"GET /titles/t/renditions/m/a HTTP/1.1\r\nHost: vod\r\n" + many + b"\r\n",
    )
    assert (reply.status, reply.json()["reason"], closed) == (431, "HEADERS_TOO_LARGE", True)


# -- bodies that end early, run long or stall ---------------------------------------------------


async def test_a_body_cut_short_by_the_client_commits_nothing(
    hardened: Running, source: bytes, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    sha = await start_upload(hardened, "hard-short", source, 4096)
    head = put_head("hard-short", len(source), sha, sized(source, 4096, 8191))
    async with connection(hardened.upload_port) as (reader, writer):
        writer.write(head + source[4096:6000])
        await writer.drain()
        writer.write_eof()  # the client is gone: 1904 of 4096 bytes sent
        assert await is_closed(reader)
    # the stdlib front committed the 1904 bytes it got and answered 308
    assert await committed(stub, "hard-short") == 4096


async def test_a_chunked_body_shorter_or_longer_than_the_range_is_a_400(
    hardened: Running, source: bytes, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    sha = await start_upload(hardened, "hard-chunked", source, 4096)
    headers = {"Content-Range": f"bytes 4096-8191/{len(source)}", "Transfer-Encoding": "chunked"}
    head = put_head("hard-chunked", len(source), sha, headers)

    reply, closed = await exchange(hardened.upload_port, head + chunked(source[4096:8000]))
    assert (reply.status, reply.json()["reason"]) == (400, "BODY_TOO_SHORT")
    assert reply.violations() == {
        "body": "the body ended after 3904 of the 4096 bytes the Content-Range declares; "
        "the unfinished chunk was not committed"
    }
    assert await committed(stub, "hard-chunked") == 4096

    reply, closed = await exchange(hardened.upload_port, head + chunked(source[4096:9000]))
    assert (reply.status, reply.json()["reason"], closed) == (400, "BODY_TOO_LONG", True)
    assert await committed(stub, "hard-chunked") == 4096

    # exactly the span, chunked: committed
    reply, closed = await exchange(hardened.upload_port, head + chunked(source[4096:8192]))
    assert (reply.status, reply.headers["range"], closed) == (308, "bytes=0-8191", False)
    assert await committed(stub, "hard-chunked") == 8192


async def test_a_stalled_body_is_dropped_after_the_read_timeout(
    hardened: Running, source: bytes, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    sha = await start_upload(hardened, "hard-stall", source, 4096)
    head = put_head("hard-stall", len(source), sha, sized(source, 4096, len(source) - 1))
    async with connection(hardened.upload_port) as (reader, writer):
        writer.write(head + source[4096:5000])  # then nothing more
        await writer.drain()
        reply = await read_reply(reader)
        assert (reply.status, reply.json()["reason"]) == (408, "BODY_READ_TIMEOUT")
        assert reply.violations() == {
            "body": f"no body bytes arrived for {READ_TIMEOUT_S:g} s; the unfinished chunk was "
            "not committed and the connection is closed"
        }
        assert reply.headers["connection"] == "close"
        assert await is_closed(reader)
    assert await committed(stub, "hard-stall") == 4096


async def test_whole_chunks_before_a_stall_stay_committed(
    hardened: Running, source: bytes, stub: transcoding_pb2_grpc.TranscodingServiceStub
) -> None:
    """Bodies are streamed in 4 MiB chunks (bounded memory): a chunk that arrived whole is
    committed like a gRPC chunk, the unfinished one is not; the client resumes from Range."""
    data = source + random.Random(7).randbytes(MAX_CHUNK + 100_000)
    sha = hashlib.sha256(data).hexdigest()
    head = put_head("hard-multi", len(data), sha, sized(data, 0, len(data) - 1))
    async with connection(hardened.upload_port) as (reader, writer):
        writer.write(head + data[: MAX_CHUNK + 1000])
        await writer.drain()
        reply = await read_reply(reader)
        assert (reply.status, reply.json()["reason"]) == (408, "BODY_READ_TIMEOUT")
        assert await is_closed(reader)
    assert await committed(stub, "hard-multi") == MAX_CHUNK


# -- origin -------------------------------------------------------------------------------------


@dataclass
class OriginUnderTest:
    port: int
    segment: bytes
    playlist: bytes


@pytest.fixture(scope="module")
async def origin_http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OriginUnderTest]:
    root = tmp_path_factory.mktemp("origin")
    store = FileSystemStore(root / "objects")
    segment = random.Random(3).randbytes(5000)
    playlist = b"#EXTM3U\n#EXT-X-VERSION:7\n"
    store.put_bytes("titles/t1/renditions/m1/v0/seg-1.m4s", segment)
    store.put_bytes("titles/t1/manifests/m1/master.m3u8", playlist)
    store.put_bytes("titles/t1/sources/u1/secret.mp4", b"SECRET-SOURCE")
    store.put_bytes("titles/t2/renditions/m9/v0/seg-1.m4s", b"UNPUBLISHED")
    (root / "objects/titles/t1/renditions/m1/v0/.tmp-partial").write_bytes(b"SECRET-PARTIAL")
    (root / "outside.txt").write_bytes(b"SECRET-OUTSIDE")

    async def published(title: str, media: str) -> bool:
        return (title, media) == ("t1", "m1")

    listener: HttpListener = await origin_server("127.0.0.1:0", store, published).start()
    try:
        yield OriginUnderTest(listener.port, segment, playlist)
    finally:
        await listener.stop()


def get(path: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: origin", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_the_origin_serves_ranges_etags_and_cache_headers(
    origin_http: OriginUnderTest,
) -> None:
    port, segment = origin_http.port, origin_http.segment
    path = "/titles/t1/renditions/m1/v0/seg-1.m4s"
    async with connection(port) as (reader, writer):  # one kept-alive connection throughout
        writer.write(get(path))
        whole = await read_reply(reader)
        assert (whole.status, whole.body) == (200, segment)
        assert whole.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert whole.headers["accept-ranges"] == "bytes"
        etag = whole.headers["etag"]
        for ask, status, body, content_range in [
            ("bytes=100-199", 206, segment[100:200], "bytes 100-199/5000"),
            ("bytes=-10", 206, segment[-10:], "bytes 4990-4999/5000"),
            ("bytes=4990-999999", 206, segment[4990:], "bytes 4990-4999/5000"),
            ("bytes=0-1,5-6", 200, segment, None),
        ]:
            writer.write(get(path, f"Range: {ask}"))
            reply = await read_reply(reader)
            assert (reply.status, reply.body) == (status, body), ask
            assert reply.headers.get("content-range") == content_range
        writer.write(get(path, f"If-None-Match: {etag}"))
        reply = await read_reply(reader)
        assert (reply.status, reply.body, reply.headers["etag"]) == (304, b"", etag)
        writer.write(get(path, method="HEAD"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD_S)
        assert b"\r\nContent-Length: 5000\r\n" in head
        writer.write(get("/titles/t1/manifests/m1/master.m3u8"))
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (200, origin_http.playlist)
        assert reply.headers["cache-control"] == "public, max-age=300"
        assert reply.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        writer.write(get("/titles/t1/renditions/m1/v0/seg%2D1.m4s"))  # unreserved escape
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (200, segment)


@pytest.mark.parametrize(
    ("value", "status", "field_"),
    [
        ("bytes=abc-", 400, "Range"),
        ("bytes=-5-10", 400, "Range"),
        ("bytes=0-" + "9" * 5000, 400, "Range"),
        ("bytes=" + "9" * 5000 + "-", 400, "Range"),
        ("items=0-5", 400, "Range"),
        ("bytes=-", 400, "Range"),
        ("bytes=20-10", 400, "Range"),
        ("bytes=5000-", 416, "Range"),
        ("bytes=-0", 416, "Range"),
    ],
    ids=[
        "word",
        "negative",
        "5000-digit-last",
        "5000-digit-first",
        "unit",
        "empty",
        "reversed",
        "past-end",
        "empty-suffix",
    ],
)
async def test_a_malformed_or_unsatisfiable_range_is_a_4xx_naming_it(
    origin_http: OriginUnderTest, value: str, status: int, field_: str
) -> None:
    reply, _closed = await exchange(
        origin_http.port, get("/titles/t1/renditions/m1/v0/seg-1.m4s", f"Range: {value}")
    )
    assert reply.status == status
    assert list(reply.violations()) == [field_]
    if status == 416:
        assert reply.headers["content-range"] == "bytes */5000"


@pytest.mark.parametrize(
    "path",
    [
        "/titles/t1/renditions/m1/../../sources/u1/secret.mp4",
        "/titles/t1/renditions/m1/v0/../../../sources/u1/secret.mp4",
        "/titles/t1/renditions/m1/%2e%2e/%2e%2e/sources/u1/secret.mp4",
        "/titles/t1/renditions/m1/%2E%2E%2F%2E%2E%2Fsources/u1/secret.mp4",
        "/titles/t1/renditions/m1/v0%2F..%2F..%2F..%2Fsources%2Fu1%2Fsecret.mp4",
        "/titles/t1/renditions/m1/v0/..%5C..%5C..%5Csources/u1/secret.mp4",
        "/titles/t1/renditions/m1/v0/../../../../../outside.txt",
        "/titles/t1/renditions/m1/v0/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside.txt",
        "/titles/t1/renditions/m1/v0/./seg-1.m4s",
        "/titles/t1/renditions/m1//v0/seg-1.m4s",
        "/titles/t1/renditions/m1/v0/.tmp-partial",
        "/titles/t1/renditions/m1/v0/seg-1.m4s%00",
        "/titles/t1/sources/u1/secret.mp4",
        "/titles/t2/renditions/m9/v0/seg-1.m4s",
        "//titles/t1/renditions/m1/v0/seg-1.m4s",
        "/titles/t1/renditions/m1/v0/seg-1.m4s/",
    ],
)
async def test_no_path_leaves_the_published_tree(origin_http: OriginUnderTest, path: str) -> None:
    reply, _closed = await exchange(origin_http.port, get(path))
    assert reply.status in (400, 404)
    assert b"SECRET" not in reply.body and b"UNPUBLISHED" not in reply.body
    assert reply.json()["code"] in ("NOT_FOUND", "INVALID_ARGUMENT")


async def test_the_origin_is_read_only(origin_http: OriginUnderTest) -> None:
    reply, _closed = await exchange(
        origin_http.port,
        get("/titles/t1/renditions/m1/v0/seg-1.m4s", "Content-Length: 0", method="PUT"),
    )
    assert (reply.status, reply.headers["allow"]) == (405, "GET, HEAD")


# -- configuration ------------------------------------------------------------------------------


def test_the_read_timeout_is_configured_from_the_environment() -> None:
    assert load_settings({}).http_read_timeout_s == 30.0
    assert load_settings({"VOD_HTTP_READ_TIMEOUT_S": "2.5"}).http_read_timeout_s == 2.5
    for bad in ("0", "-1"):
        with pytest.raises(ValueError, match="VOD_HTTP_READ_TIMEOUT_S must be > 0"):
            load_settings({"VOD_HTTP_READ_TIMEOUT_S": bad})


async def test_the_listener_port_is_known_before_it_starts(tmp_path: Path) -> None:
    async def published(title: str, media: str) -> bool:
        return False

    listener = origin_server("127.0.0.1:0", FileSystemStore(tmp_path), published)
    assert listener.port > 0
    await listener.stop()
