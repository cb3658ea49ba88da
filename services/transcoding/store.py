"""Object storage: one `ObjectStore` interface, a local filesystem store (the embedded default,
atomic writes) and an S3 store on the `minio` client (MinIO or any S3).

Keys are `/`-separated paths. Each title owns a prefix with four folders:

    titles/<title>/sources/<upload>/<file name>          the verified upload (never served)
    titles/<title>/renditions/<media>/<rendition>/...     CMAF init + media segments
    titles/<title>/manifests/<media>/master.m3u8 ...      HLS and DASH manifests
    titles/<title>/thumbnails/<media>/...                 poster, trick-play sprite and index

Uploads in progress live under `uploads/<upload>/` and job attempts under
`staging/<job>/<attempt>/`; neither is ever served. The interface is synchronous (the minio client
is); async callers use `asyncio.to_thread`.

Resumable appends (`begin_append`/`append`/`finish_append`) are how uploads reach storage: each
call durably stores one chunk and returns a small JSON-able state the caller persists with the
committed offset. The filesystem appends to a staging file and renames it into place on finish;
S3 keeps chunks as small pending objects until a multipart part's worth has accumulated, then
uploads that part (S3 parts must be at least 5 MiB), so memory stays bounded by one part whatever
the file size.

On disk, a key component longer than the file system allows (`NAME_MAX`, 255 bytes: a legal
255-character file name in UTF-8 can take four times that) is stored under a shortened name ending
in a hash of the whole component, and append staging files are named by a hash of their key, so
no valid key ever fails with ENAMETOOLONG.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "FileSystemStore",
    "ObjectInfo",
    "ObjectStore",
    "S3Store",
    "content_type_for",
    "disk_name",
    "layout",
]

_READ_CHUNK = 1024 * 1024

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".json": "application/json",
}


def content_type_for(key: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


class layout:  # noqa: N801 - a namespace of key builders
    """Key builders for the per-title layout."""

    @staticmethod
    def title(title_id: str) -> str:
        return f"titles/{title_id}/"

    @staticmethod
    def source(title_id: str, upload_id: str, file_name: str) -> str:
        return f"titles/{title_id}/sources/{upload_id}/{file_name}"

    @staticmethod
    def upload_staging(upload_id: str) -> str:
        return f"uploads/{upload_id}/data"

    @staticmethod
    def staging(job_id: str, attempt: int | None = None) -> str:
        return f"staging/{job_id}/" if attempt is None else f"staging/{job_id}/{attempt}/"

    FOLDERS = ("renditions", "manifests", "thumbnails")

    @staticmethod
    def published(title_id: str, folder: str, media_id: str) -> str:
        return f"titles/{title_id}/{folder}/{media_id}/"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    etag: str
    modified: float


class ObjectStore(Protocol):
    """What the service and the workers need from object storage."""

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None: ...
    def put_file(self, key: str, path: Path, content_type: str = "") -> None: ...
    def stat(self, key: str) -> ObjectInfo | None: ...
    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]: ...
    def get_bytes(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def move_prefix(self, src: str, dst: str) -> None: ...
    def reader_url(self, key: str) -> str: ...
    def begin_append(self, key: str) -> dict[str, Any]: ...
    def append(
        self, key: str, state: dict[str, Any], offset: int, data: bytes
    ) -> dict[str, Any]: ...
    def read_appended(
        self, key: str, state: dict[str, Any], offset: int, length: int
    ) -> bytes | None: ...
    def finish_append(self, key: str, state: dict[str, Any]) -> None: ...
    def abort_append(self, key: str, state: dict[str, Any]) -> None: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") for p in parts[:-1])
        or parts[-1] in (".", "..")
    ):
        raise ValueError(f"bad object key {key!r}")
    return key


# --------------------------------------------------------------------------------------------
# filesystem
# --------------------------------------------------------------------------------------------

NAME_MAX = 255  # bytes per path component on Linux file systems (ext4, xfs, tmpfs, btrfs)
_KEEP = 160  # bytes of a long component kept, readable, before its hash


def disk_name(component: str) -> str:
    """`component` itself when it fits in NAME_MAX bytes; else a prefix of it (cut on a
    character boundary) + "~" + the SHA-256 of all of it, well under the limit and still unique."""
    raw = component.encode("utf-8", "surrogatepass")
    if len(raw) <= NAME_MAX:
        return component
    head = raw[:_KEEP].decode("utf-8", "ignore")
    return f"{head}~{hashlib.sha256(raw).hexdigest()}"


class FileSystemStore:
    """Objects as files under `root`; every write goes to a temp file and is renamed into place,
    so a reader never sees half an object."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._appends = self.root / ".appends"
        self._appends.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        key = _check_key(key.rstrip("/") if key.endswith("/") else key)
        return self.root.joinpath(*(disk_name(part) for part in key.split("/")))

    def _atomic_target(self, key: str) -> tuple[Path, Any]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        return target, (fd, tmp)

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        target, (fd, tmp) = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str = "") -> None:
        target, (fd, tmp) = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, _READ_CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        if not os.path.isfile(self._path(key)):
            return None
        etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
        return ObjectInfo(key, st.st_size, content_type_for(key), etag, st.st_mtime)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            fh.seek(start)
            left = length
            while left is None or left > 0:
                block = fh.read(_READ_CHUNK if left is None else min(_READ_CHUNK, left))
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                yield block

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def download(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def list(self, prefix: str) -> list[str]:
        base = self.root
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, base)
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        if prefix.endswith("/"):
            shutil.rmtree(self._path(prefix), ignore_errors=True)
        return len(keys)

    def move_prefix(self, src: str, dst: str) -> None:
        """Rename a folder: atomic on one filesystem; an existing `dst` is replaced."""
        source, target = self._path(src), self._path(dst)
        if not source.is_dir():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            trash = target.with_name(f".trash-{target.name}-{os.getpid()}")
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(source, target)

    def reader_url(self, key: str) -> str:
        return str(self._path(key))

    # -- resumable appends ---------------------------------------------------------------------

    def _append_path(self, key: str) -> Path:
        """The staging file of an append: named by a hash of the key (a flattened key can be
        far longer than NAME_MAX). One started before hashed names keeps its old name."""
        _check_key(key)
        legacy = key.replace("/", "__")
        if len(legacy.encode("utf-8", "surrogatepass")) <= NAME_MAX:
            old = self._appends / legacy
            if old.exists():
                return old
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._appends / digest

    def begin_append(self, key: str) -> dict[str, Any]:
        path = self._append_path(key)
        path.touch()
        return {"kind": "fs"}

    def append(self, key: str, state: dict[str, Any], offset: int, data: bytes) -> dict[str, Any]:
        path = self._append_path(key)
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)
            fh.truncate()  # bytes past the committed offset from a crashed call are dropped
            fh.flush()
            os.fsync(fh.fileno())
        return state

    def read_appended(
        self, key: str, state: dict[str, Any], offset: int, length: int
    ) -> bytes | None:
        with open(self._append_path(key), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    def finish_append(self, key: str, state: dict[str, Any]) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._append_path(key), target)

    def abort_append(self, key: str, state: dict[str, Any]) -> None:
        self._append_path(key).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# S3 (minio client)
# --------------------------------------------------------------------------------------------


class S3Store:
    """Objects in one S3 bucket through the `minio` client.

    `put_file` uses the client's multipart upload; appends use the S3 multipart API directly
    (`_create_multipart_upload`/`_upload_part`/`_complete_multipart_upload`, the low-level calls
    the client's own `put_object` is built on) so each upload part is sent once and the multipart
    upload survives process restarts."""

    MIN_PART = 5 * 1024 * 1024

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        region: str = "us-east-1",
        secure: bool = False,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        from minio import Minio

        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        self._bucket = bucket
        self._part_size = max(part_size, self.MIN_PART)
        if not self._client.bucket_exists(bucket):
            self._client.make_bucket(bucket)

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        self._client.put_object(
            self._bucket,
            _check_key(key),
            io.BytesIO(data),
            len(data),
            content_type=content_type or content_type_for(key),
        )

    def put_file(self, key: str, path: Path, content_type: str = "") -> None:
        self._client.fput_object(
            self._bucket,
            _check_key(key),
            str(path),
            content_type=content_type or content_type_for(key),
            part_size=self._part_size,
        )

    def stat(self, key: str) -> ObjectInfo | None:
        from minio.error import S3Error

        try:
            obj = self._client.stat_object(self._bucket, _check_key(key))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise
        modified = obj.last_modified.timestamp() if obj.last_modified else 0.0
        return ObjectInfo(
            key,
            int(obj.size or 0),
            obj.content_type or content_type_for(key),
            (obj.etag or "").strip('"'),
            modified,
        )

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length == 0:
            return
        response = self._client.get_object(
            self._bucket, _check_key(key), offset=start, length=length or 0
        )
        try:
            yield from response.stream(_READ_CHUNK)
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.read(key))

    def download(self, key: str, path: Path) -> None:
        self._client.fget_object(self._bucket, _check_key(key), str(path))

    def list(self, prefix: str) -> list[str]:
        return sorted(
            o.object_name
            for o in self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
            if o.object_name
        )

    def delete(self, key: str) -> None:
        self._client.remove_object(self._bucket, _check_key(key))

    def delete_prefix(self, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject

        keys = self.list(prefix)
        errors = list(self._client.remove_objects(self._bucket, [DeleteObject(k) for k in keys]))
        if errors:
            raise OSError(f"could not delete {len(errors)} objects under {prefix}")
        return len(keys)

    def move_prefix(self, src: str, dst: str) -> None:
        """Server-side copies then deletes. Not atomic as a set: callers publish by flipping a
        database row afterwards, and the origin serves nothing that row does not publish."""
        from minio.commonconfig import CopySource

        self.delete_prefix(dst)
        for key in self.list(src):
            self._client.copy_object(
                self._bucket, dst + key[len(src) :], CopySource(self._bucket, key)
            )
        self.delete_prefix(src)

    def reader_url(self, key: str) -> str:
        return self._client.presigned_get_object(
            self._bucket, _check_key(key), expires=timedelta(hours=12)
        )

    # -- resumable appends ---------------------------------------------------------------------

    def begin_append(self, key: str) -> dict[str, Any]:
        upload_id = self._client._create_multipart_upload(  # noqa: SLF001
            self._bucket, _check_key(key), {"Content-Type": "application/octet-stream"}
        )
        return {"kind": "s3", "upload_id": upload_id, "parts": [], "parts_end": 0, "pending": []}

    def _pending_key(self, key: str, offset: int) -> str:
        return f"{key}.pending/{offset:016d}"

    def append(self, key: str, state: dict[str, Any], offset: int, data: bytes) -> dict[str, Any]:
        state = {**state, "parts": list(state["parts"]), "pending": list(state["pending"])}
        # a chunk at `offset` replaces anything recorded at or after it (a crashed earlier call)
        state["pending"] = [p for p in state["pending"] if p[0] < offset]
        self.put_bytes(self._pending_key(key, offset), data, "application/octet-stream")
        state["pending"].append([offset, len(data)])
        pending_bytes = sum(length for _, length in state["pending"])
        if pending_bytes >= self._part_size:
            state = self._flush_part(key, state)
        return state

    def _flush_part(self, key: str, state: dict[str, Any]) -> dict[str, Any]:
        """Concatenate the pending chunks into the next multipart part (bounded: one part)."""
        buffer = bytearray()
        for offset, _length in state["pending"]:
            buffer += self.get_bytes(self._pending_key(key, offset))
        number = len(state["parts"]) + 1
        etag = self._client._upload_part(  # noqa: SLF001
            self._bucket, key, bytes(buffer), None, state["upload_id"], number
        )
        state["parts"].append([number, etag])
        state["parts_end"] += len(buffer)
        # The pending objects stay until finish: if this process dies before the caller persists
        # the new state, the old state still names them and the part is simply sent again.
        state["pending"] = []
        return state

    def read_appended(
        self, key: str, state: dict[str, Any], offset: int, length: int
    ) -> bytes | None:
        """Bytes still in pending chunks can be read back; bytes already in parts cannot."""
        if offset < state["parts_end"]:
            return None
        out = bytearray()
        for start, size in state["pending"]:
            end = start + size
            if end <= offset or start >= offset + length:
                continue
            blob = self.get_bytes(self._pending_key(key, start))
            lo, hi = max(offset, start), min(offset + length, end)
            out += blob[lo - start : hi - start]
        return bytes(out)

    def finish_append(self, key: str, state: dict[str, Any]) -> None:
        from minio.datatypes import Part

        if state["pending"]:
            state = self._flush_part(
                key, dict(state, parts=list(state["parts"]), pending=list(state["pending"]))
            )
        self._client._complete_multipart_upload(  # noqa: SLF001
            self._bucket, key, state["upload_id"], [Part(n, e) for n, e in state["parts"]]
        )
        self.delete_prefix(f"{key}.pending/")

    def abort_append(self, key: str, state: dict[str, Any]) -> None:
        try:
            self._client._abort_multipart_upload(self._bucket, key, state["upload_id"])  # noqa: SLF001
        finally:
            self.delete_prefix(f"{key}.pending/")
