"""Transcoding settings, loaded from the environment once in `main()` (service and worker)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_str,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["CHUNK_MODES", "S3Settings", "TranscodingSettings", "load_settings"]

CHUNK_MODES = ("local", "distributed")


@dataclass(frozen=True)
class S3Settings:
    """Where the S3 object store lives (MinIO or any S3); empty endpoint = local filesystem."""

    endpoint: str = setting("VOD_S3_ENDPOINT", "")
    access_key: str = setting("VOD_S3_ACCESS_KEY", "", secret=True)
    secret_key: str = setting("VOD_S3_SECRET_KEY", "", secret=True)
    bucket: str = setting("VOD_S3_BUCKET", "vod-media")
    region: str = setting("VOD_S3_REGION", "us-east-1")
    secure: bool = setting("VOD_S3_SECURE", False)
    part_size: int = setting("VOD_S3_PART_SIZE", 8 * 1024 * 1024)


@dataclass(frozen=True)
class TranscodingSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_TRANSCODING_SCHEMA", "transcoding")
    object_store_dir: Path = Path("var/objects")
    s3: S3Settings = S3Settings()
    # HTTP listeners: the read-only origin and the upload front (HTTP PUT + Content-Range).
    origin_address: str = ports.http_address("origin")
    upload_http_address: str = ports.http_address("upload")
    # Base URL clients see for the origin (what the CLI prints); defaults to the origin address.
    origin_public_url: str = setting("VOD_ORIGIN_PUBLIC_URL", "")
    # How long the HTTP listeners wait for the next body bytes of a request before dropping it.
    http_read_timeout_s: float = setting("VOD_HTTP_READ_TIMEOUT_S", 30.0)
    scratch_dir: Path = Path("var/scratch")
    upload_ttl_s: float = setting("VOD_UPLOAD_TTL_S", 7 * 24 * 3600.0)
    # Work queue and workers.
    jobs_stream: str = "VOD_JOBS"
    jobs_durable: str = "transcode-workers"
    ack_wait_s: float = setting("VOD_TRANSCODE_ACK_WAIT_S", 30.0)
    max_attempts: int = setting("VOD_TRANSCODE_MAX_ATTEMPTS", 3)
    retry_backoff_s: float = setting("VOD_TRANSCODE_RETRY_BACKOFF_S", 5.0)
    encode_parallelism: int = setting("VOD_TRANSCODE_PARALLELISM", 0)
    """0 = one chunk encode per core."""
    chunk_seconds: float = setting("VOD_TRANSCODE_CHUNK_SECONDS", 0.0)
    """0 = pick from the duration and parallelism."""
    chunk_mode: str = setting("VOD_TRANSCODE_CHUNKS", "local")
    """Where a job's chunks are encoded: "local" (in the worker that owns the job) or
    "distributed" (one task per chunk on the VOD_CHUNKS work queue, encoded by any worker;
    every worker then also pulls chunk tasks)."""
    chunks_stream: str = "VOD_CHUNKS"
    chunks_durable: str = "transcode-chunk-workers"
    chunk_ack_wait_s: float = setting("VOD_TRANSCODE_CHUNK_ACK_WAIT_S", 10.0)
    """Ack-wait of a chunk task: a worker killed mid-chunk has its chunk redone elsewhere after
    this long (running chunks are kept with in-progress acks every third of it)."""
    worker_name: str = setting("VOD_TRANSCODE_WORKER_NAME", "")
    """Empty = a random `worker-xxxxxxxx`; names show in job progress and chunk records."""
    vmaf_subsample: int = setting("VOD_TRANSCODE_VMAF_SUBSAMPLE", 5)
    x264_preset: str = setting("VOD_TRANSCODE_X264_PRESET", "veryfast")
    watch_poll_s: float = 0.25
    ffmpeg: str = setting("VOD_FFMPEG", "")
    """Empty = imageio_ffmpeg.get_ffmpeg_exe()."""
    catalog_address: str = setting("VOD_CATALOG_ADDRESS", "")
    """When set, uploads check that the title exists."""
    # Content keys of encrypted titles: LicensingService, authorised by the packager secret
    # (sent as `x-vod-packager`); without the secret a worker packages clear titles only.
    licensing_address: str = setting("VOD_LICENSING_ADDRESS", ports.grpc_address("licensing"))
    packager_secret: str = setting("VOD_PACKAGER_SECRET", "", secret=True)

    @property
    def origin_url(self) -> str:
        return (self.origin_public_url or f"http://{self.origin_address}").rstrip("/")


def _host_port(value: str) -> str:
    return value if ":" in value else f"127.0.0.1:{value}"


def load_settings(env: Mapping[str, str] | None = None) -> TranscodingSettings:
    env = os.environ if env is None else env
    home = Path(env_str(env, "VOD_HOME", "var"))
    settings = from_env(
        TranscodingSettings,
        env,
        runtime=load_runtime_settings("transcoding", env),
        object_store_dir=Path(env_str(env, "VOD_OBJECT_STORE_DIR", str(home / "objects"))),
        origin_address=_host_port(
            env_str(env, "VOD_ORIGIN_ADDRESS", TranscodingSettings.origin_address)
        ),
        upload_http_address=_host_port(
            env_str(env, "VOD_UPLOAD_HTTP_ADDRESS", TranscodingSettings.upload_http_address)
        ),
        scratch_dir=Path(env_str(env, "VOD_TRANSCODE_SCRATCH_DIR", str(home / "scratch"))),
    )
    if settings.http_read_timeout_s <= 0:
        raise ValueError(f"VOD_HTTP_READ_TIMEOUT_S must be > 0, got {settings.http_read_timeout_s}")
    if settings.chunk_mode not in CHUNK_MODES:
        raise ValueError(
            f"VOD_TRANSCODE_CHUNKS must be one of {', '.join(CHUNK_MODES)}, got "
            f"{settings.chunk_mode!r}"
        )
    if settings.chunk_ack_wait_s <= 0:
        raise ValueError(
            f"VOD_TRANSCODE_CHUNK_ACK_WAIT_S must be > 0, got {settings.chunk_ack_wait_s}"
        )
    return settings
