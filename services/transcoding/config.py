"""Transcoding settings, loaded from the environment once in `main()` (service and worker)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_float,
    env_int,
    env_str,
    load_runtime_settings,
)

__all__ = ["S3Settings", "TranscodingSettings", "load_settings"]


@dataclass(frozen=True)
class S3Settings:
    """Where the S3 object store lives (MinIO or any S3); empty endpoint = local filesystem."""

    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    bucket: str = "vod-media"
    region: str = "us-east-1"
    secure: bool = False
    part_size: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class TranscodingSettings:
    runtime: RuntimeSettings
    schema: str = "transcoding"
    object_store_dir: Path = Path("var/objects")
    s3: S3Settings = S3Settings()
    # HTTP listeners: the read-only origin and the upload front (HTTP PUT + Content-Range).
    origin_address: str = ports.http_address("origin")
    upload_http_address: str = ports.http_address("upload")
    # Base URL clients see for the origin (what the CLI prints); defaults to the origin address.
    origin_public_url: str = ""
    # How long the HTTP listeners wait for the next body bytes of a request before dropping it.
    http_read_timeout_s: float = 30.0
    scratch_dir: Path = Path("var/scratch")
    upload_ttl_s: float = 7 * 24 * 3600
    # Work queue and workers.
    jobs_stream: str = "VOD_JOBS"
    jobs_durable: str = "transcode-workers"
    ack_wait_s: float = 30.0
    max_attempts: int = 3
    retry_backoff_s: float = 5.0
    encode_parallelism: int = 0  # 0 = one chunk encode per core
    chunk_seconds: float = 0.0  # 0 = pick from the duration and parallelism
    vmaf_subsample: int = 5
    x264_preset: str = "veryfast"
    watch_poll_s: float = 0.25
    ffmpeg: str = ""  # empty = imageio_ffmpeg.get_ffmpeg_exe()
    catalog_address: str = ""  # when set, uploads check that the title exists
    # Content keys of encrypted titles: LicensingService, authorised by the packager secret
    # (sent as `x-vod-packager`); without the secret a worker packages clear titles only.
    licensing_address: str = ports.grpc_address("licensing")
    packager_secret: str = field(default="", repr=False)

    @property
    def origin_url(self) -> str:
        return (self.origin_public_url or f"http://{self.origin_address}").rstrip("/")


def _host_port(value: str) -> str:
    return value if ":" in value else f"127.0.0.1:{value}"


def load_settings(env: Mapping[str, str] | None = None) -> TranscodingSettings:
    env = os.environ if env is None else env
    home = Path(env_str(env, "VOD_HOME", "var"))
    read_timeout = env_float(env, "VOD_HTTP_READ_TIMEOUT_S", 30.0)
    if read_timeout <= 0:
        raise ValueError(f"VOD_HTTP_READ_TIMEOUT_S must be > 0, got {read_timeout}")
    return TranscodingSettings(
        runtime=load_runtime_settings("transcoding", env),
        schema=env_str(env, "VOD_TRANSCODING_SCHEMA", TranscodingSettings.schema),
        object_store_dir=Path(env_str(env, "VOD_OBJECT_STORE_DIR", str(home / "objects"))),
        s3=S3Settings(
            endpoint=env_str(env, "VOD_S3_ENDPOINT", S3Settings.endpoint),
            access_key=env_str(env, "VOD_S3_ACCESS_KEY", S3Settings.access_key),
            secret_key=env_str(env, "VOD_S3_SECRET_KEY", S3Settings.secret_key),
            bucket=env_str(env, "VOD_S3_BUCKET", S3Settings.bucket),
            region=env_str(env, "VOD_S3_REGION", S3Settings.region),
            secure=env_str(env, "VOD_S3_SECURE", "false").lower() in ("1", "true", "yes"),
            part_size=env_int(env, "VOD_S3_PART_SIZE", S3Settings.part_size),
        ),
        origin_address=_host_port(
            env_str(env, "VOD_ORIGIN_ADDRESS", TranscodingSettings.origin_address)
        ),
        upload_http_address=_host_port(
            env_str(env, "VOD_UPLOAD_HTTP_ADDRESS", TranscodingSettings.upload_http_address)
        ),
        origin_public_url=env_str(
            env, "VOD_ORIGIN_PUBLIC_URL", TranscodingSettings.origin_public_url
        ),
        http_read_timeout_s=read_timeout,
        scratch_dir=Path(env_str(env, "VOD_TRANSCODE_SCRATCH_DIR", str(home / "scratch"))),
        upload_ttl_s=env_float(env, "VOD_UPLOAD_TTL_S", TranscodingSettings.upload_ttl_s),
        ack_wait_s=env_float(env, "VOD_TRANSCODE_ACK_WAIT_S", TranscodingSettings.ack_wait_s),
        max_attempts=env_int(env, "VOD_TRANSCODE_MAX_ATTEMPTS", TranscodingSettings.max_attempts),
        retry_backoff_s=env_float(
            env, "VOD_TRANSCODE_RETRY_BACKOFF_S", TranscodingSettings.retry_backoff_s
        ),
        encode_parallelism=env_int(
            env, "VOD_TRANSCODE_PARALLELISM", TranscodingSettings.encode_parallelism
        ),
        chunk_seconds=env_float(
            env, "VOD_TRANSCODE_CHUNK_SECONDS", TranscodingSettings.chunk_seconds
        ),
        vmaf_subsample=env_int(
            env, "VOD_TRANSCODE_VMAF_SUBSAMPLE", TranscodingSettings.vmaf_subsample
        ),
        x264_preset=env_str(env, "VOD_TRANSCODE_X264_PRESET", TranscodingSettings.x264_preset),
        ffmpeg=env_str(env, "VOD_FFMPEG", TranscodingSettings.ffmpeg),
        catalog_address=env_str(env, "VOD_CATALOG_ADDRESS", TranscodingSettings.catalog_address),
        licensing_address=env_str(
            env, "VOD_LICENSING_ADDRESS", TranscodingSettings.licensing_address
        ),
        packager_secret=env_str(env, "VOD_PACKAGER_SECRET", TranscodingSettings.packager_secret),
    )
