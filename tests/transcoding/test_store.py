"""Both ObjectStore implementations against the same contract: the filesystem store and the S3
store (minio client) against moto's S3 server over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.embedded import free_port
from services.transcoding.store import FileSystemStore, ObjectStore, S3Store


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "fs":
        return FileSystemStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("moto_endpoint")
    return S3Store(endpoint, "test", "test", f"b-{os.urandom(4).hex()}", part_size=5 * 1024 * 1024)


def test_put_read_ranges_list_move_delete(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("titles/a/manifests/m/master.m3u8", b"#EXTM3U\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    store.put_file("staging/j/1/renditions/r/seg-00001.m4s", big)
    info = store.stat("staging/j/1/renditions/r/seg-00001.m4s")
    assert (
        info is not None
        and info.size == big.stat().st_size
        and info.content_type == "video/iso.segment"
    )
    assert store.stat("nope/missing") is None
    assert (
        b"".join(store.read("staging/j/1/renditions/r/seg-00001.m4s", 10, 100))
        == big.read_bytes()[10:110]
    )
    store.move_prefix("staging/j/1/renditions/", "titles/a/renditions/j/")
    assert store.list("staging/") == []
    assert store.list("titles/a/") == [
        "titles/a/manifests/m/master.m3u8",
        "titles/a/renditions/j/r/seg-00001.m4s",
    ]
    assert store.get_bytes("titles/a/renditions/j/r/seg-00001.m4s") == big.read_bytes()
    assert store.delete_prefix("titles/a/") == 2 and store.list("titles/") == []
    with pytest.raises(ValueError):
        store.put_bytes("titles/../etc/passwd", b"x")


def test_resumable_append_is_bounded_and_verifiable(store: ObjectStore) -> None:
    key = "titles/a/sources/u/movie.mp4"
    chunks = [
        os.urandom(2 * 1024 * 1024) for _ in range(7)
    ]  # 14 MiB: two S3 parts + a pending tail
    state = store.begin_append(key)
    offset = 0
    for data in chunks:
        state = store.append(key, state, offset, data)
        offset += len(data)
    # the last chunk is still readable (compare re-sent bytes against it)
    assert store.read_appended(key, state, offset - 100, 100) == chunks[-1][-100:]
    assert store.stat(key) is None  # nothing visible before finish
    # a retried append of the same chunk after a crash is harmless
    state = store.append(key, state, offset - len(chunks[-1]), chunks[-1])
    store.finish_append(key, state)
    assert store.get_bytes(key) == b"".join(chunks)
    assert [k for k in store.list("titles/a/") if k != key] == []  # no pending leftovers


def test_filesystem_writes_are_atomic(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "o")
    store.put_bytes("a/b.txt", b"one")
    store.put_bytes("a/b.txt", b"two")
    assert store.get_bytes("a/b.txt") == b"two"
    assert [p.name for p in (tmp_path / "o" / "a").iterdir()] == ["b.txt"]
