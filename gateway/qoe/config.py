"""QoE settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["QoeSettings", "load_settings"]


@dataclass(frozen=True)
class QoeSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_QOE_SCHEMA", "qoe")
    playback_address: str = setting("VOD_PLAYBACK_ADDRESS", ports.grpc_address("playback"))
    """PlaybackService: `GetSession` says whose a session is and what it plays."""
    playback_deadline_s: float = setting("VOD_QOE_PLAYBACK_DEADLINE_S", 1.0)
    catalog_address: str = setting("VOD_CATALOG_ADDRESS", ports.grpc_address("catalog"))
    """CatalogService: a title's media asset, for the report's ladder ("" = no ladder)."""
    transcoding_address: str = setting("VOD_TRANSCODING_ADDRESS", ports.grpc_address("transcoding"))
    """TranscodingService: the asset's renditions and VMAF, and the encode queue's depth ("" =
    neither)."""
    media_deadline_s: float = setting("VOD_QOE_MEDIA_DEADLINE_S", 2.0)
    edge_logs: tuple[str, ...] = setting("VOD_EDGE_LOGS", ())
    """`REGION=path` of each edge's JSON access log (set by `vod up`): the overview's hit ratios
    and request counts. Empty: the overview lists no edges."""
    edge_urls: tuple[str, ...] = setting("VOD_EDGE_URLS", ())
    """`REGION=http://host:port` of each edge: whether it answers its health URL."""
    session_cache_size: int = setting("VOD_QOE_SESSION_CACHE_SIZE", 50_000)
    """Sessions whose owner and attribution are kept (they never change once started)."""
    overview_window_s: int = 15 * 60
    """GetOperationsOverview's window when the request leaves it 0."""
    report_window_s: int = 7 * 24 * 3600
    """GetTitleQoeReport's window when the request leaves it 0."""
    min_report_plays: int = setting("VOD_QOE_MIN_REPORT_PLAYS", 20)
    """Fewer plays than this in the window: the report says INSUFFICIENT_DATA."""
    retention_s: int = setting("VOD_QOE_RETENTION_S", 91 * 24 * 3600)
    """Aggregates (and idempotency keys) older than this are dropped: past the longest window
    GetTitleQoeReport allows (90 days). Redeliveries come within the stream's 7 days."""
    prune_every_s: float = 3600.0


def load_settings(env: Mapping[str, str] | None = None) -> QoeSettings:
    """The runtime variables (`VOD_QOE_GRPC_ADDRESS`,
    `VOD_QOE_METRICS_ADDRESS`: defaults in `services.runtime.ports`, `VOD_DATABASE_URL`, `VOD_NATS_URL`, ...) and
    `VOD_QOE_SCHEMA` (qoe), `VOD_PLAYBACK_ADDRESS`, `VOD_CATALOG_ADDRESS` and
    `VOD_TRANSCODING_ADDRESS` (the ladder and queue; empty turns them off),
    `VOD_QOE_MEDIA_DEADLINE_S` (2.0), `VOD_QOE_PLAYBACK_DEADLINE_S` (1.0),
    `VOD_QOE_SESSION_CACHE_SIZE` (50000), `VOD_QOE_MIN_REPORT_PLAYS` (20),
    `VOD_QOE_RETENTION_S` (91 days)."""
    env = os.environ if env is None else env
    settings = from_env(QoeSettings, env, runtime=load_runtime_settings("qoe", env))
    if settings.retention_s < 90 * 24 * 3600:
        raise ValueError("VOD_QOE_RETENTION_S must cover the 90-day report window")
    if settings.playback_deadline_s <= 0 or settings.session_cache_size < 1:
        raise ValueError("VOD_QOE_PLAYBACK_DEADLINE_S must be > 0, VOD_QOE_SESSION_CACHE_SIZE >= 1")
    return settings
