"""Resumable, idempotent uploads over gRPC and the HTTP PUT front; bad uploads are rejected with
decoded google.rpc details and never become COMPLETED."""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path

import grpc
import pytest
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.server import Running
from tests.support import details_of
from tests.transcoding.helpers import chunk, header_for, make_video, stream, upload


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("up") / "up.mp4", seconds=2, size="320x240")


async def get_upload(tc, upload_id: str) -> pb.Upload:
    return (await tc.GetUpload(pb.GetUploadRequest(name=f"uploads/{upload_id}"))).upload


async def test_resume_after_a_dropped_stream(tc, clip: Path, tc_service: Running) -> None:
    data = clip.read_bytes()
    first = await upload(tc, clip, "titles/resume", "resume-1", chunk_size=8192, stop_after=3)
    assert first.state == pb.UPLOAD_STATE_UPLOADING and first.committed_offset == 3 * 8192

    # a stream cut off by the network: the client cancels mid-way; what arrived stays committed
    queue: asyncio.Queue[pb.UploadRequest | None] = asyncio.Queue()

    async def requests():
        while (item := await queue.get()) is not None:
            yield item

    call = tc.Upload(requests())
    await queue.put(pb.UploadRequest(header=header_for(clip, "titles/resume", "resume-1")))
    await queue.put(chunk(3 * 8192, data[3 * 8192 : 4 * 8192]))
    for _ in range(50):
        if (await get_upload(tc, "resume-1")).committed_offset == 4 * 8192:
            break
        await asyncio.sleep(0.05)
    call.cancel()
    resumed_at = (await get_upload(tc, "resume-1")).committed_offset
    assert resumed_at == 4 * 8192

    done = await upload(tc, clip, "titles/resume", "resume-1", chunk_size=8192, start=resumed_at)
    assert done.state == pb.UPLOAD_STATE_COMPLETED and done.committed_offset == len(data)
    source = tc_service.store.get_bytes(f"titles/resume/sources/resume-1/{clip.name}")
    assert source == data


async def test_resent_chunks_are_harmless_and_conflicting_ones_refused(tc, clip: Path) -> None:
    data = clip.read_bytes()
    header = pb.UploadRequest(header=header_for(clip, "titles/idem", "idem-1"))
    a, b = data[:4096], data[4096:8192]
    up = (
        await tc.Upload(
            stream(header, chunk(0, a), chunk(4096, b), chunk(4096, b), chunk(0, a, crc=False))
        )
    ).upload
    assert up.committed_offset == 8192
    # an overlap that carries new bytes past the committed offset commits only the new part
    up = (await tc.Upload(stream(header, chunk(4096, data[4096:12288])))).upload
    assert up.committed_offset == 12288
    tampered = bytes([a[0] ^ 0xFF]) + a[1:]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(header, chunk(0, tampered)))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.FAILED_PRECONDITION and d.reason == "CHUNK_CONFLICT"
    assert (await get_upload(tc, "idem-1")).committed_offset == 12288


async def test_gap_checksum_and_overrun_errors_carry_details(tc, clip: Path) -> None:
    data = clip.read_bytes()
    header = pb.UploadRequest(header=header_for(clip, "titles/bad", "bad-1"))
    await tc.Upload(stream(header, chunk(0, data[:1000])))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(header, chunk(5000, data[5000:6000])))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.FAILED_PRECONDITION and d.reason == "CHUNK_OFFSET_GAP"
    assert d.preconditions == ["OFFSET"] and "1000" in d.message

    bad = chunk(1000, data[1000:2000])
    bad.chunk.crc32c ^= 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(header, bad))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.DATA_LOSS and d.reason == "CHUNK_CHECKSUM_MISMATCH"
    assert "chunk.crc32c" in d.violations

    small = pb.UploadRequest(header=header_for(clip, "titles/bad", "bad-2"))
    small.header.size_bytes = 1500
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(small, chunk(0, data[:2000])))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.OUT_OF_RANGE and d.reason == "CHUNK_PAST_END"

    no_sum = pb.UploadRequest(chunk=pb.UploadChunk(offset=1000, data=data[1000:1100]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(header, no_sum))
    assert details_of(err.value).violations.keys() == {"chunk.checksum"}
    assert (await get_upload(tc, "bad-1")).committed_offset == 1000


async def test_header_rules_and_resume_mismatch(tc, clip: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(chunk(0, b"x")))
    assert details_of(err.value).violations.keys() == {"header"}
    bad = header_for(clip, "Titles/NOPE", "hdr-1")
    bad.sha256 = "xyz"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(pb.UploadRequest(header=bad)))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"title", "sha256"} <= {k.split(".")[-1] for k in d.violations}
    pdf = header_for(clip, "titles/hdr", "hdr-2", content_type="application/pdf")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(pb.UploadRequest(header=pdf)))
    assert details_of(err.value).reason == "UNSUPPORTED_CONTENT_TYPE"
    await tc.Upload(stream(pb.UploadRequest(header=header_for(clip, "titles/hdr", "hdr-3"))))
    other = header_for(clip, "titles/hdr", "hdr-3")
    other.file_name = "other.mp4"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(pb.UploadRequest(header=other)))
    d = details_of(err.value)
    assert d.reason == "UPLOAD_HEADER_MISMATCH" and d.preconditions == ["HEADER"]


async def test_whole_file_checksum_mismatch_fails_the_upload(
    tc, clip: Path, tc_service: Running
) -> None:
    data = clip.read_bytes()
    header = header_for(clip, "titles/shafail", "shafail-1", sha256="0" * 64)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.Upload(stream(pb.UploadRequest(header=header), chunk(0, data)))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.DATA_LOSS and d.reason == "UPLOAD_CHECKSUM_MISMATCH"
    assert (await get_upload(tc, "shafail-1")).state == pb.UPLOAD_STATE_FAILED
    assert tc_service.store.list("titles/shafail/") == []
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a FAILED upload cannot be resumed
        await tc.Upload(stream(pb.UploadRequest(header=header)))
    assert details_of(err.value).code == grpc.StatusCode.ALREADY_EXISTS


async def test_files_that_are_not_video_are_rejected(
    tc, tmp_path: Path, tc_service: Running
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"these are meeting notes, not a movie\n" * 50)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await upload(tc, text, "titles/notvideo", "notvideo-1")
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT and d.reason == "UNSUPPORTED_CONTAINER"
    assert (await get_upload(tc, "notvideo-1")).state == pb.UPLOAD_STATE_FAILED

    # a real MP4 container holding only audio: passes the sniff, fails the probe
    from tests.transcoding.helpers import FFMPEG, run

    audio = tmp_path / "song.mp4"
    run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio)])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await upload(tc, audio, "titles/notvideo", "notvideo-2")
    d = details_of(err.value)
    assert d.reason == "NOT_VIDEO" and "no video stream" in d.message
    assert (await get_upload(tc, "notvideo-2")).state == pb.UPLOAD_STATE_FAILED
    assert tc_service.store.list("titles/notvideo/") == []


async def test_job_needs_a_completed_upload(tc, clip: Path) -> None:
    await upload(tc, clip, "titles/early", "early-1", stop_after=1, chunk_size=1000)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.CreateJob(pb.CreateJobRequest(job=pb.Job(upload="uploads/early-1")))
    assert details_of(err.value).reason == "UPLOAD_NOT_COMPLETED"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.CreateJob(
            pb.CreateJobRequest(
                job=pb.Job(
                    upload="uploads/early-1",
                    options=pb.TranscodeOptions(
                        segment_duration_seconds=5, keyframe_interval_seconds=2
                    ),
                )
            )
        )
    assert "job.options.keyframe_interval_seconds" in details_of(err.value).violations


def _put(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("PUT", path, body=body, headers=headers)
    response = conn.getresponse()
    payload = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, payload, dict(response.headers)


async def test_http_put_with_content_range_resumes(tc_service: Running, clip: Path, tc) -> None:
    data = clip.read_bytes()
    size = len(data)
    header = header_for(clip, "titles/http-up", "http-1")
    query = (
        f"/upload/v1/uploads/http-1?title=titles/http-up&file_name={clip.name}&size_bytes={size}"
        f"&content_type=video/mp4&sha256={header.sha256}"
    )
    half = size // 2
    status, doc, headers = await asyncio.to_thread(
        _put,
        tc_service.upload_port,
        query,
        data[:half],
        {"Content-Range": f"bytes 0-{half - 1}/{size}"},
    )
    assert status == 308 and headers["Range"] == f"bytes=0-{half - 1}"
    assert doc["state"] == "UPLOAD_STATE_UPLOADING"
    status, doc, _ = await asyncio.to_thread(
        _put,
        tc_service.upload_port,
        query,
        data[half + 10 :],
        {"Content-Range": f"bytes {half + 10}-{size - 1}/{size}"},
    )
    assert status == 409 and doc["reason"] == "CHUNK_OFFSET_GAP"
    status, doc, _ = await asyncio.to_thread(
        _put,
        tc_service.upload_port,
        query,
        data[half:],
        {"Content-Range": f"bytes {half}-{size - 1}/{size}"},
    )
    assert status == 200 and doc["state"] == "UPLOAD_STATE_COMPLETED"
    assert (await get_upload(tc, "http-1")).state == pb.UPLOAD_STATE_COMPLETED
