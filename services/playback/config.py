"""Playback settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime import drm, ports
from services.runtime.config import (
    RuntimeSettings,
    env_str,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["PlaybackSettings", "load_settings", "parse_drm_signal", "parse_edges"]


@dataclass(frozen=True)
class PlaybackSettings:
    runtime: RuntimeSettings
    playback_secret: bytes = field(repr=False)
    """HMAC key of session tokens (`VOD_PLAYBACK_SECRET`); shared with licensing."""
    edge_secret: str = field(repr=False)
    """nginx secure_link secret of edge URLs (`VOD_EDGE_SECRET`); shared with the edges."""
    edges: tuple[tuple[str, str], ...] = ()
    """Region -> edge base URL (`VOD_EDGE_URLS="US=http://127.0.0.1:8081,GB=..."`)."""
    schema: str = setting("VOD_PLAYBACK_SCHEMA", "playback")
    http_address: str = ports.http_address("play")
    """Where the per-session manifest endpoint listens (the gateway routes /play/ there)."""
    public_url: str = setting("VOD_PLAYBACK_PUBLIC_URL", ports.front_url())
    """Base URL clients reach playback's HTTP endpoint through (the gateway)."""
    license_public_url: str = setting("VOD_LICENSE_PUBLIC_URL", "")
    """Base URL clients reach licensing's HTTP endpoints through (`VOD_LICENSE_PUBLIC_URL`):
    the ClearKey licence URL and the HLS key URIs. Empty = `public_url` (the same gateway)."""
    drm_signal: tuple[str, ...] = ()
    """Vendor key systems (`VOD_DRM_SIGNAL="widevine,playready"`, default none) whose
    ContentProtection with a `cenc:pssh` is added to the per-session MPDs of encrypted titles,
    next to CENC + ClearKey. Signalling only, for a plugged-in vendor DRM: it lets a player with
    that CDM recognise the stream, but its licences come from the vendor's licence server,
    configured separately (on the player, or in the vendor's key exchange); vodmesh's licensing
    serves ClearKey and HLS AES-128 keys only."""
    origin_url: str = "http://" + ports.http_address("origin")
    """The transcoding service's origin listener, where the origin manifests are fetched."""
    catalog_address: str = setting("VOD_CATALOG_ADDRESS", ports.grpc_address("catalog"))
    transcoding_address: str = setting("VOD_TRANSCODING_ADDRESS", ports.grpc_address("transcoding"))
    accounts_address: str = setting("VOD_ACCOUNTS_ADDRESS", ports.grpc_address("accounts"))
    heartbeat_s: float = setting("VOD_PLAYBACK_HEARTBEAT_S", 10.0)
    """Heartbeat interval told to clients; a session's lease is three intervals."""
    token_ttl_s: float = setting("VOD_PLAYBACK_TOKEN_TTL_S", 4 * 3600.0)
    """Lifetime of a session token and of the signed edge URLs in its manifests."""
    flush_interval_s: float = setting("VOD_PLAYBACK_FLUSH_S", 0.2)
    """How long heartbeat writes are gathered before one batched UPDATE."""
    write_behind: bool = setting("VOD_PLAYBACK_WRITE_BEHIND", True)
    """`VOD_PLAYBACK_WRITE_BEHIND` (default on; "0" turns it off). On: a heartbeat of a session
    this replica knows live, with more than `write_behind_margin_s` of its stored lease left, is
    answered at once and written by the next flush (at most `flush_interval_s` later); otherwise
    the answer waits for the flush, as every heartbeat did before. The lease and the stream
    limit stay decided by the database: a heartbeat answered early never revives a session (its
    stored lease outlives the flush by the margin), and a stop, a replacing start or a flush that
    found the session ended here refuses its later heartbeats at once. What may be lost: the
    heartbeats answered but not yet written when the process dies without draining (SIGKILL,
    a crash): at most `flush_interval_s` of them, each session's resume point then being its
    previous heartbeat's; a drain (SIGTERM, `close`) writes them. A stop or replacing start made
    by a sibling process on the same port (`VOD_PLAYBACK_PROCESSES`) is seen at once (shared
    write counters, `services.runtime.processes`). One made through a replica on another host is
    learnt by this one's next flush of the session: heartbeats answered before that flush
    (within `flush_interval_s` of the first one after the stop) are answered as live, the later
    ones are refused. Starts, stops, resume-point reads and GetSession first wait for the
    user's gathered heartbeats (read your writes; they hurry the flush)."""
    flush_max_batch: int = setting("VOD_PLAYBACK_FLUSH_MAX_BATCH", 2000)
    sweep_interval_s: float = setting("VOD_PLAYBACK_SWEEP_S", 0.0)
    """How often expired sessions are swept; 0 = half a heartbeat interval, at most 1 s."""
    plans_ttl_s: float = setting("VOD_PLAYBACK_PLANS_TTL_S", 300.0)
    default_region: str = setting("VOD_PLAYBACK_DEFAULT_REGION", "")
    """Region for internal calls that carry neither a platform region nor region_code."""
    prewarm_parallelism: int = setting("VOD_PLAYBACK_PREWARM_PARALLELISM", 8)

    @property
    def lease_s(self) -> float:
        return self.heartbeat_s * 3

    @property
    def write_behind_margin_s(self) -> float:
        """The stored lease a session must have left for a heartbeat answered before its write:
        one heartbeat interval, far more than a flush takes."""
        return self.heartbeat_s

    @property
    def sweep_every_s(self) -> float:
        return self.sweep_interval_s or min(1.0, self.heartbeat_s / 2)

    @property
    def edge_map(self) -> dict[str, str]:
        return dict(self.edges)

    @property
    def public_play_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def public_license_base(self) -> str:
        return (self.license_public_url or self.public_url).rstrip("/")


def parse_drm_signal(raw: str) -> tuple[str, ...]:
    """`VOD_DRM_SIGNAL` ("widevine,playready"; empty = none) -> the vendor system names, in
    order, deduplicated; an unknown name is a ValueError (`services.runtime.drm` knows them)."""
    return tuple(system.name for system in drm.parse_drm_signal(raw))


def parse_edges(raw: str) -> tuple[tuple[str, str], ...]:
    """`"US=http://127.0.0.1:8081,GB=http://127.0.0.1:8082"` -> (("US", ...), ("GB", ...))."""
    pairs: list[tuple[str, str]] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        region, sep, url = item.partition("=")
        region, url = region.strip().upper(), url.strip().rstrip("/")
        if not sep or len(region) != 2 or not region.isalpha() or "://" not in url:
            raise ValueError(f"VOD_EDGE_URLS: expected REGION=http://host:port, got {item!r}")
        pairs.append((region, url))
    return tuple(pairs)


def _host_port(value: str) -> str:
    return value if ":" in value else f"127.0.0.1:{value}"


def load_settings(env: Mapping[str, str] | None = None) -> PlaybackSettings:
    env = os.environ if env is None else env
    secret = env_str(env, "VOD_PLAYBACK_SECRET", "")
    edge_secret = env_str(env, "VOD_EDGE_SECRET", "")
    if not secret or not edge_secret:
        raise SystemExit(
            "VOD_PLAYBACK_SECRET and VOD_EDGE_SECRET must be set (the launcher generates them)"
        )
    return from_env(
        PlaybackSettings,
        env,
        runtime=load_runtime_settings("playback", env),
        playback_secret=secret.encode(),
        edge_secret=edge_secret,
        edges=parse_edges(env_str(env, "VOD_EDGE_URLS", "US=" + ports.edge_url())),
        http_address=_host_port(
            env_str(env, "VOD_PLAYBACK_HTTP_ADDRESS", PlaybackSettings.http_address)
        ),
        drm_signal=parse_drm_signal(env_str(env, "VOD_DRM_SIGNAL", "")),
        origin_url=env_str(
            env,
            "VOD_ORIGIN_URL",
            "http://" + env_str(env, "VOD_ORIGIN_ADDRESS", ports.http_address("origin")),
        ).rstrip("/"),
    )
