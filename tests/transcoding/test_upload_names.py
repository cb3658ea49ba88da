"""Upload file names at the edges of what the contract allows: `.` and `..` match the proto
pattern but are not file names (INVALID_ARGUMENT naming `header.file_name`, over gRPC and the HTTP
PUT front); a legal 255-character name, ASCII or multi-byte, completes and is stored, although
its flattened append path or its UTF-8 bytes exceed the file system's 255-byte name limit."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
from pathlib import Path

import grpc
import pytest
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.config import TranscodingSettings
from services.transcoding.server import Running
from services.transcoding.store import NAME_MAX, FileSystemStore, disk_name, layout
from tests.support import details_of
from tests.transcoding.helpers import chunk, header_for, make_video, stream

DOT_MESSAGE = "must name a file; '.' and '..' are not file names"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("names") / "n.mp4", seconds=1, size="160x120")


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_names_are_invalid_over_grpc(tc, clip: Path, name: str) -> None:
    header = header_for(clip, "titles/names", f"dot-{len(name)}")
    header.file_name = name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(pb.UploadRequest(header=header)), timeout=30)
    details = details_of(err.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violations == {"header.file_name": DOT_MESSAGE}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.GetUpload(pb.GetUploadRequest(name=f"uploads/dot-{len(name)}"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # nothing was stored


def _put(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("PUT", path, body=body, headers=headers)
    response = conn.getresponse()
    payload = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, payload


async def test_dot_dot_is_a_400_over_http(tc_service: Running, clip: Path) -> None:
    data = clip.read_bytes()
    header = header_for(clip, "titles/names", "http-dots")
    query = (
        f"/upload/v1/uploads/http-dots?title=titles/names&file_name=..&size_bytes={len(data)}"
        f"&content_type=video/mp4&sha256={header.sha256}"
    )
    status, doc = await asyncio.to_thread(
        _put,
        tc_service.upload_port,
        query,
        data,
        {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert status == 400
    assert doc["code"] == "INVALID_ARGUMENT"
    assert doc["field_violations"] == [{"field": "header.file_name", "description": DOT_MESSAGE}]


@pytest.mark.parametrize(
    "name",
    ["a" * 251 + ".mp4", "é" * 251 + ".mp4", "🎬" * 251 + ".mp4"],
    ids=["ascii-255", "latin-255-chars-506-bytes", "emoji-255-chars-1008-bytes"],
)
async def test_a_255_character_name_uploads_and_is_stored(
    tc, tc_settings: TranscodingSettings, clip: Path, name: str
) -> None:
    assert len(name) == 255
    upload_id = f"long-{len(name.encode())}"
    header = header_for(clip, "titles/names", upload_id)
    header.file_name = name
    data = clip.read_bytes()
    response = await tc.Upload(stream(pb.UploadRequest(header=header), chunk(0, data)), timeout=60)
    assert response.upload.state == pb.UPLOAD_STATE_COMPLETED
    assert response.upload.file_name == name
    store = FileSystemStore(tc_settings.object_store_dir)
    key = layout.source("names", upload_id, name)
    assert store.get_bytes(key) == data
    for dirpath, dirnames, filenames in os.walk(tc_settings.object_store_dir):
        for entry in dirnames + filenames:
            assert len(entry.encode()) <= NAME_MAX, (dirpath, entry)


def test_filesystem_store_appends_and_reads_keys_with_overlong_components(
    tmp_path: Path,
) -> None:
    store = FileSystemStore(tmp_path / "objects")
    long_a = "x" * 300 + ".mp4"
    long_b = "x" * 300 + ".mkv"  # same first 160 bytes: the hash keeps them apart
    for name, body in ((long_a, b"first"), (long_b, b"second")):
        key = f"titles/t/sources/u/{name}"
        state = store.begin_append(key)
        state = store.append(key, state, 0, body[:3])
        state = store.append(key, state, 3, body[3:])
        assert store.read_appended(key, state, 0, 100) == body
        store.finish_append(key, state)
        assert store.get_bytes(key) == body
        info = store.stat(key)
        assert info is not None and info.size == len(body)
    assert disk_name(long_a) != disk_name(long_b)
    assert len(disk_name(long_a).encode()) == 160 + 1 + 64
    assert disk_name("short.mp4") == "short.mp4"
    assert sorted(os.listdir(tmp_path / "objects" / "titles/t/sources/u")) == sorted(
        [disk_name(long_a), disk_name(long_b)]
    )
    assert os.listdir(tmp_path / "objects" / ".appends") == []
    store.put_bytes(f"titles/t/sources/v/{long_a}", b"put")
    assert store.get_bytes(f"titles/t/sources/v/{long_a}") == b"put"
    assert store.delete_prefix("titles/t/sources/") == 3
    assert store.list("titles/") == []


def test_an_append_begun_under_the_old_flat_name_is_resumed(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "objects")
    key = "titles/t/sources/u/clip.mp4"
    legacy = tmp_path / "objects" / ".appends" / key.replace("/", "__")
    legacy.write_bytes(b"half")  # an upload in progress when the store was upgraded
    state = store.append(key, {"kind": "fs"}, 4, b"-done")
    store.finish_append(key, state)
    assert store.get_bytes(key) == b"half-done"
    assert not legacy.exists()
