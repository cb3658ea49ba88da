"""CMAF segmentation: split one fragmented MP4 (one track) at fragment boundaries into an init
segment (ftyp+moov) and media segments (moof+mdat runs), grouped to the segment duration.

FFmpeg writes the fragmented MP4 (`-movflags +frag_keyframe+empty_moov+default_base_moof`, one
fragment per GOP), with CENC when asked (`-encryption_scheme cenc-aes-ctr`: the `mp4` muxer
writes `tenc`/`senc`; the `hls`/`dash` muxers would not pass those options on). This module only
reads box headers and the few fields it needs (mdhd timescale, trex/tfhd/trun durations and sync
flags, tfdt decode times, avcC profile/level), so encryption stays a flag of the mux step.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Fragment", "Segment", "SplitResult", "split"]

_CONTAINERS = {
    b"moov",
    b"trak",
    b"mdia",
    b"minf",
    b"stbl",
    b"mvex",
    b"moof",
    b"traf",
    b"sinf",
    b"schi",
}
_NON_SYNC = 0x00010000


@dataclass(frozen=True)
class Fragment:
    offset: int
    size: int  # moof + mdat (and anything between them)
    base_time: int
    duration: int
    starts_with_key: bool


@dataclass(frozen=True)
class Segment:
    number: int  # 1-based
    file_name: str
    start: float  # seconds
    duration: float
    size: int
    starts_with_key: bool
    start_ticks: int
    duration_ticks: int


@dataclass(frozen=True)
class SplitResult:
    timescale: int
    codec: str  # RFC 6381, e.g. avc1.64001f or mp4a.40.2
    encrypted: bool
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


def _boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, size, header size) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise ValueError(f"corrupt MP4 box {kind!r} at {pos}")
        yield kind, pos, size, header
        pos += size


def _find(
    data: bytes, path: list[bytes], start: int = 0, end: int | None = None
) -> tuple[int, int, int] | None:
    for kind, pos, size, header in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return pos, size, header
            return _find(data, path[1:], pos + header, pos + size)
    return None


def _file_boxes(fh: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    pos = 0
    while True:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            return
        size, kind = struct.unpack_from(">I4s", head, 0)
        if size == 1:
            size = struct.unpack_from(">Q", head, 8)[0]
        elif size == 0:
            fh.seek(0, 2)
            size = fh.tell() - pos
        yield kind, pos, size
        pos += size


def _timescale(moov: bytes) -> int:
    found = _find(moov, [b"moov", b"trak", b"mdia", b"mdhd"])
    if found is None:
        raise ValueError("no mdhd box")
    pos, _, header = found
    version = moov[pos + header]
    off = pos + header + 4 + (16 if version == 1 else 8)
    return int(struct.unpack_from(">I", moov, off)[0])


def _trex(moov: bytes) -> tuple[int, int]:
    found = _find(moov, [b"moov", b"mvex", b"trex"])
    if found is None:
        return 0, 0
    pos, _, header = found
    _, _, _, duration, _, flags = struct.unpack_from(">IIIIII", moov, pos + header)
    return duration, flags


def _codec(moov: bytes) -> tuple[str, bool]:
    stsd = _find(moov, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if stsd is None:
        raise ValueError("no stsd box")
    pos, size, header = stsd
    entries = pos + header + 8
    kind, epos, esize, eheader = next(_boxes(moov, entries, pos + size))
    encrypted = kind in (b"encv", b"enca")
    if kind in (b"avc1", b"avc3", b"encv"):
        # visual sample entry: 8 (reserved+index) + 70 bytes of fields, then child boxes
        avcc = _find(moov, [b"avcC"], epos + eheader + 78, epos + esize)
        if avcc is not None:
            p, _, h = avcc
            return (
                f"avc1.{moov[p + h + 1]:02x}{moov[p + h + 2]:02x}{moov[p + h + 3]:02x}",
                encrypted,
            )
        hvcc = _find(moov, [b"hvcC"], epos + eheader + 78, epos + esize)
        if hvcc is not None:
            return "hvc1.1.6.L93.B0", encrypted
        return kind.decode(), encrypted
    if kind in (b"hvc1", b"hev1"):
        return "hvc1.1.6.L93.B0", encrypted
    if kind in (b"mp4a", b"enca"):
        return "mp4a.40.2", encrypted
    return kind.decode("latin-1"), encrypted


def _fragment_info(moof: bytes, default_duration: int, default_flags: int) -> tuple[int, int, bool]:
    """(base decode time, duration in ticks, first sample is a sync sample) of one moof."""
    traf = _find(moof, [b"moof", b"traf"])
    if traf is None:
        raise ValueError("moof without traf")
    tpos, tsize, theader = traf
    base_time = 0
    duration = 0
    first_flags = None
    tf_duration, tf_flags = default_duration, default_flags
    for kind, pos, _size, header in _boxes(moof, tpos + theader, tpos + tsize):
        body = pos + header
        version_flags = struct.unpack_from(">I", moof, body)[0]
        version, flags = version_flags >> 24, version_flags & 0xFFFFFF
        if kind == b"tfhd":
            off = body + 8
            if flags & 0x01:
                off += 8
            if flags & 0x02:
                off += 4
            if flags & 0x08:
                tf_duration = struct.unpack_from(">I", moof, off)[0]
                off += 4
            if flags & 0x10:
                off += 4
            if flags & 0x20:
                tf_flags = struct.unpack_from(">I", moof, off)[0]
        elif kind == b"tfdt":
            base_time = (
                struct.unpack_from(">Q", moof, body + 4)[0]
                if version == 1
                else struct.unpack_from(">I", moof, body + 4)[0]
            )
        elif kind == b"trun":
            count = struct.unpack_from(">I", moof, body + 4)[0]
            off = body + 8
            if flags & 0x001:
                off += 4
            trun_first = None
            if flags & 0x004:
                trun_first = struct.unpack_from(">I", moof, off)[0]
                off += 4
            for index in range(count):
                sample_duration = tf_duration
                sample_flags = tf_flags
                if flags & 0x100:
                    sample_duration = struct.unpack_from(">I", moof, off)[0]
                    off += 4
                if flags & 0x200:
                    off += 4
                if flags & 0x400:
                    sample_flags = struct.unpack_from(">I", moof, off)[0]
                    off += 4
                if flags & 0x800:
                    off += 4
                if index == 0 and first_flags is None:
                    first_flags = trun_first if trun_first is not None else sample_flags
                duration += sample_duration
    return base_time, duration, first_flags is not None and not (first_flags & _NON_SYNC)


def split(
    source: Path,
    out_dir: Path,
    segment_seconds: float,
    transform: Callable[[bytes], bytes] | None = None,
) -> SplitResult:
    """Write `init.mp4` and `seg-00001.m4s`... into out_dir; segments start at the first fragment
    at or after each multiple of segment_seconds. `transform` (e.g. whole-file AES-128 for HLS)
    is applied to each file's bytes before writing; segment sizes are the written sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fragments: list[Fragment] = []
    with open(source, "rb") as fh:
        init_end = None
        moov = b""
        current: list[int] = []  # offset, size, base, duration, key
        for kind, pos, size in _file_boxes(fh):
            if kind == b"moov":
                fh.seek(pos)
                moov = fh.read(size)
                init_end = pos + size
            elif kind == b"moof":
                fh.seek(pos)
                moof = fh.read(size)
                current = [pos, size]
                default_duration, default_flags = _trex(moov)
                base, duration, key = _fragment_info(moof, default_duration, default_flags)
                current += [base, duration, int(key)]
            elif kind == b"mdat" and current:
                fragments.append(
                    Fragment(
                        current[0],
                        pos + size - current[0],
                        current[2],
                        current[3],
                        bool(current[4]),
                    )
                )
                current = []
        if init_end is None or not moov:
            raise ValueError("not a fragmented MP4: no moov")
        fh.seek(0)
        init = fh.read(init_end)
        (out_dir / "init.mp4").write_bytes(transform(init) if transform else init)
        timescale = _timescale(moov)
        codec, encrypted = _codec(moov)
        seg_ticks = segment_seconds * timescale
        groups: list[list[Fragment]] = []
        first_base = fragments[0].base_time if fragments else 0
        for frag in fragments:
            tolerance = max(1, frag.duration // 100)
            if not groups or frag.base_time - first_base >= len(groups) * seg_ticks - tolerance:
                groups.append([frag])
            else:
                groups[-1].append(frag)
        if len(groups) > 1 and sum(f.duration for f in groups[-1]) < 0.1 * seg_ticks:
            groups[-2].extend(groups.pop())  # a sliver (e.g. AAC padding) joins the last segment
        segments = []
        for number, group in enumerate(groups, start=1):
            name = f"seg-{number:05d}.m4s"
            size = sum(f.size for f in group)
            with open(out_dir / name, "wb") as out:
                if transform is None:
                    for frag in group:
                        fh.seek(frag.offset)
                        out.write(fh.read(frag.size))
                else:
                    parts = []
                    for frag in group:
                        fh.seek(frag.offset)
                        parts.append(fh.read(frag.size))
                    data = transform(b"".join(parts))
                    size = len(data)
                    out.write(data)
            start = group[0].base_time
            ticks = sum(f.duration for f in group)
            segments.append(
                Segment(
                    number,
                    name,
                    start / timescale,
                    ticks / timescale,
                    size,
                    group[0].starts_with_key,
                    start,
                    ticks,
                )
            )
    return SplitResult(timescale, codec, encrypted, tuple(segments))
