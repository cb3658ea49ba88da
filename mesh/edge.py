"""The caching edges (the CDN tier): one nginx per simulated region, described by an `EdgeSpec`
and rendered to an nginx.conf by `render_nginx_conf`.

Why nginx and not Envoy: Envoy's HTTP cache filter and its storage plugins (the in-memory
`SimpleHttpCache`, the file-system cache) are marked work-in-progress upstream, "not intended
for production use", while nginx's `proxy_cache` is what large video CDNs run: an on-disk LRU
cache with a size cap, request collapsing on misses (`proxy_cache_lock`), byte ranges served
from the cached object, and hits sent with `sendfile`, so a hit costs about what a static file
costs. Its `secure_link` module checks the playback token in C (no Python call per segment),
with the scheme fixed in `services.runtime.playback_tokens`.

One nginx process per edge (rather than one process with a `server` block per region): each edge
has its own cache directory, logs, pid and lifecycle, like separate PoPs, so one can be restarted,
flushed or killed without touching the others, and its counts are its own.

What an edge does with `GET /cdn/<region>/<title>/<media>/<track>/<file>?s=&e=&t=`:

1. The path is checked on the raw request line (`$request_uri` up to `?`), not on nginx's
   normalised `$uri`, so `..`, `%2e%2e`, `%2F` and `//` cannot reach a location: anything but the
   identifier charsets of `playback_tokens` is 400 `bad_path`; another region's path is 403
   `region_not_served` (before the token is looked at). Client networks in `blocked_networks` get
   403 `client_blocked` first. Methods other than GET/HEAD are 405 (OPTIONS answers CORS
   preflights without a token: browsers send none with them).
2. The token: `secure_link $arg_t,$arg_e` with `secure_link_md5
   "$secure_link_expires$cdn_prefix$arg_s <secret>"`, where `$cdn_prefix` is `/cdn/<region>/<title>/`
   from the raw path; a mismatch (other title, region or session, forged or missing token) is 403
   `bad_token`, a past expiry 403 `expired`.
3. The object comes from the cache, keyed on the origin path
   (`/titles/<title>/renditions/<media>/<track>/<file>`: no token, no session), or from the
   origin at that path without the query string. Concurrent misses of one object collapse into
   one origin request; Range/conditional headers are not forwarded, so the origin always sends
   the whole object, which is cached and ranges are cut from it (a first request with `Range`
   fills the cache too). Only 200s are cached: a 206 stored under a range-less key would later
   be served as the whole object.

Every response carries `Access-Control-Allow-Origin: *` and, when it went through the cache,
`X-Cache-Status` (HIT, MISS, EXPIRED, ...). The access log is one JSON object per line with the
path without the query (tokens are never logged) and a `reason` for refusals; `mesh.edge_stats`
counts it. nginx's error messages quote the whole request line, so under `/cdn/` only critical
ones go to the error log; an origin failure still shows in the access log (`status` 502/504,
`upstream_status`). The secret appears only in the rendered config, which `write_nginx_conf`
writes with mode 0600. Origin 404s are not cached (a title may be published a moment later).
"""

from __future__ import annotations

import asyncio
import grp
import ipaddress
import os
import pwd
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx

__all__ = [
    "CACHE_STATUSES",
    "EdgeSpec",
    "WarmResult",
    "prewarm",
    "regional_edges",
    "render_nginx_conf",
    "write_nginx_conf",
]

CACHE_STATUSES = ("HIT", "MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "BYPASS")
"""Values of nginx's `$upstream_cache_status` (the `X-Cache-Status` header)."""

# Identifier charsets of services.runtime.playback_tokens, as nginx (PCRE) regex fragments.
_REGION = "[A-Z]{2}"
_ID = "[a-z0-9][a-z0-9-]{0,62}"
_NAME = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

_REGION_RE = re.compile(rf"^{_REGION}$")
_SIZE_RE = re.compile(r"^[1-9][0-9]{0,9}[kKmMgG]?$")
_TIME_RE = re.compile(r"^[1-9][0-9]{0,6}(ms|s|m|h|d|w|M|y)?$")
# The secret sits inside a double-quoted nginx string that interpolates `$variables`.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,512}$")
_UNSAFE_PATH_CHARS = frozenset("\"\\$;{}'#\n\r\t")


def _fail(field_name: str, message: str, value: object) -> ValueError:
    return ValueError(f"edge spec: {field_name} {message}, got {value!r}")


def _check_host(field_name: str, host: object) -> None:
    if (
        not isinstance(host, str)
        or not host
        or any(c in _UNSAFE_PATH_CHARS or c.isspace() for c in host)
    ):
        raise _fail(field_name, "must be a non-empty host name or IP address", host)


def _check_port(field_name: str, port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _fail(field_name, "must be an integer port in 1..65535", port)


def _check_int(field_name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(field_name, f"must be an integer >= {minimum}", value)


def _check_seconds(field_name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86400:
        raise _fail(field_name, "must be a number of seconds in (0, 86400)", value)


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """One edge (PoP) serving one simulated region from one origin.

    Paths must be absolute-able and free of characters nginx would interpret (`"`, `$`, `;`,
    braces, backslashes, whitespace); the secret is 16-512 characters of
    `[A-Za-z0-9_.~+/=-]` (what `secrets.token_urlsafe` produces).
    """

    region: str
    """ISO 3166-1 alpha-2 code this edge serves; paths of other regions are refused."""
    host: str
    port: int
    origin_host: str
    origin_port: int
    secret: str = field(repr=False)
    """The deployment's edge URL secret (shared with playback); only ever written to the config."""
    cache_dir: Path
    log_dir: Path
    cache_max_size: str = "1g"
    """nginx size (`512m`, `1g`): the LRU cap of the on-disk cache."""
    cache_keys_zone_size: str = "16m"
    """Shared memory for cache keys (about 8000 keys per megabyte)."""
    cache_inactive: str = "7d"
    """An object not requested for this long is evicted even below the size cap."""
    cache_valid: str = "1d"
    """How long a 200 stays fresh; segments are immutable, so long is right."""
    worker_processes: int | None = None
    """nginx worker processes; `None` is nginx's `auto` (one per CPU)."""
    worker_connections: int = 4096
    origin_connect_timeout_s: float = 2.0
    origin_timeout_s: float = 30.0
    """Read/send timeout towards the origin (between two successive reads, not the whole body)."""
    origin_keepalive: int = 32
    """Idle keep-alive connections to the origin kept per worker."""
    blocked_networks: tuple[str, ...] = ()
    """Client networks (CIDR) refused with 403 `client_blocked`, before anything else."""
    cors_max_age_s: int = 86400

    def __post_init__(self) -> None:
        if not isinstance(self.region, str) or not _REGION_RE.match(self.region):
            raise _fail("region", "must be an ISO 3166-1 alpha-2 code such as 'US'", self.region)
        _check_host("host", self.host)
        _check_port("port", self.port)
        _check_host("origin_host", self.origin_host)
        _check_port("origin_port", self.origin_port)
        if (self.host, self.port) == (self.origin_host, self.origin_port):
            raise _fail("port", "must differ from the origin's address", self.port)
        if not isinstance(self.secret, str) or not _SECRET_RE.match(self.secret):
            # Never echo the secret itself.
            raise ValueError("edge spec: secret must be 16-512 characters of [A-Za-z0-9_.~+/=-]")
        for name in ("cache_dir", "log_dir"):
            value = getattr(self, name)
            if not isinstance(value, str | os.PathLike) or not str(value):
                raise _fail(name, "must be a directory path", value)
            path = Path(value).absolute()
            if any(c in _UNSAFE_PATH_CHARS or c.isspace() for c in str(path)):
                raise _fail(name, "must not contain quotes, '$', ';', braces or whitespace", value)
            object.__setattr__(self, name, path)
        for name in ("cache_max_size", "cache_keys_zone_size"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SIZE_RE.match(value):
                raise _fail(name, "must be an nginx size such as '512m' or '1g'", value)
        for name in ("cache_inactive", "cache_valid"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _TIME_RE.match(value):
                raise _fail(name, "must be an nginx time such as '10m' or '7d'", value)
        if self.worker_processes is not None:
            _check_int("worker_processes", self.worker_processes, 1)
        _check_int("worker_connections", self.worker_connections, 16)
        _check_int("origin_keepalive", self.origin_keepalive, 0)
        _check_int("cors_max_age_s", self.cors_max_age_s, 0)
        _check_seconds("origin_connect_timeout_s", self.origin_connect_timeout_s)
        _check_seconds("origin_timeout_s", self.origin_timeout_s)
        for name in ("blocked_networks",):
            value = getattr(self, name)
            if isinstance(value, str):
                raise _fail(name, "must be a sequence of networks, not a string", value)
            networks = tuple(value)
            for network in networks:
                try:
                    ipaddress.ip_network(network, strict=False)
                except (TypeError, ValueError):
                    raise _fail(
                        name, "must hold IP networks such as '10.0.0.0/8'", network
                    ) from None
            object.__setattr__(self, name, networks)

    @property
    def base_url(self) -> str:
        """`http://host:port` of this edge (what playback puts in front of `/cdn/...`)."""
        return f"http://{_hostport(self.host, self.port)}"

    @property
    def access_log_path(self) -> Path:
        return self.log_dir / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.log_dir / "error.log"


def regional_edges(
    regions: tuple[str, ...] | list[str],
    *,
    host: str,
    base_port: int,
    origin_host: str,
    origin_port: int,
    secret: str,
    root: Path,
    **options: object,
) -> tuple[EdgeSpec, ...]:
    """One `EdgeSpec` per region, on consecutive ports from `base_port`, each with its own cache
    and logs under `root/<region>/` (what `vod up` starts). `options` go to every spec."""
    if isinstance(regions, str) or not regions:
        raise ValueError(f"edge regions must be a non-empty sequence of codes, got {regions!r}")
    if len(set(regions)) != len(regions):
        raise ValueError(f"edge regions must be distinct, got {list(regions)!r}")
    root = Path(root)
    return tuple(
        EdgeSpec(
            region=region,
            host=host,
            port=base_port + i,
            origin_host=origin_host,
            origin_port=origin_port,
            secret=secret,
            cache_dir=root / region / "cache",
            log_dir=root / region / "logs",
            **options,  # type: ignore[arg-type]
        )
        for i, region in enumerate(regions)
    )


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _default_worker_user() -> str | None:
    """Workers drop to `nobody` when nginx starts as root (nginx's own default, made explicit so
    the directories can be prepared for it); otherwise they run as the current user."""
    return "nobody" if os.geteuid() == 0 else None


def _user_directive(user: str | None) -> str:
    if user is None:
        return ""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ValueError(f"worker user {user!r} does not exist") from None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return f"user {user} {group};\n"


def render_nginx_conf(
    spec: EdgeSpec, *, run_dir: Path | None = None, worker_user: str | None | bool = True
) -> str:
    """The nginx.conf of one edge.

    `run_dir` holds the pid file and nginx's temp directories (default: `spec.log_dir`).
    `worker_user=True` picks `nobody` when running as root and nothing otherwise; a name forces
    that user; `None`/`False` leaves the `user` directive out.
    """
    run = Path(run_dir).absolute() if run_dir is not None else spec.log_dir
    if any(c in _UNSAFE_PATH_CHARS or c.isspace() for c in str(run)):
        raise ValueError(f"run_dir {str(run)!r} contains characters nginx would interpret")
    user = _default_worker_user() if worker_user is True else (worker_user or None)
    region = spec.region
    zone = f"edge_{region}"
    obj = f"{_ID}/{_ID}/{_NAME}/{_NAME}"
    workers = "auto" if spec.worker_processes is None else str(spec.worker_processes)
    blocked = "".join(f"        {net} 1;\n" for net in spec.blocked_networks)
    keepalive = f"        keepalive {spec.origin_keepalive};\n" if spec.origin_keepalive else ""
    timeout = f"{spec.origin_timeout_s:g}s"
    connect = f"{spec.origin_connect_timeout_s:g}s"
    return f"""\
# Edge {region}: rendered by mesh.edge.render_nginx_conf; do not edit by hand.
# Contains the edge URL secret: keep this file mode 0600.
{_user_directive(user)}daemon off;
master_process on;
worker_processes {workers};
pid "{run}/nginx.pid";
error_log "{spec.error_log_path}" warn;

events {{
    worker_connections {spec.worker_connections};
}}

http {{
    server_tokens off;
    sendfile on;
    # No tcp_nopush: with it, a cache hit (header by writev, body by sendfile from past the
    # cache file's own header) waited ~44 ms for the delayed ACK on small objects (audio, init
    # segments), halving the edge's throughput on a player's mix (scripts/bench playback).
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    reset_timedout_connection on;
    default_type application/octet-stream;
    client_max_body_size 1k;
    merge_slashes off;

    client_body_temp_path "{run}/tmp/client_body";
    proxy_temp_path "{run}/tmp/proxy";
    fastcgi_temp_path "{run}/tmp/fastcgi";
    uwsgi_temp_path "{run}/tmp/uwsgi";
    scgi_temp_path "{run}/tmp/scgi";

    # One JSON object per request. The path is $uri: never $request_uri, which holds the token.
    log_format edge_json escape=json
        '{{"time":"$time_iso8601","region":"{region}","method":"$request_method",'
        '"path":"$uri","status":$status,"cache":"$upstream_cache_status",'
        '"bytes":$body_bytes_sent,"request_time":$request_time,'
        '"upstream_status":"$upstream_status","upstream_time":"$upstream_response_time",'
        '"range":"$http_range","reason":"$cdn_reason","remote":"$remote_addr"}}';
    access_log "{spec.access_log_path}" edge_json;

    # The path of the raw request line: no decoding, no dot-segment or slash merging.
    map $request_uri $cdn_raw_path {{
        "~^(?<cdn_raw>[^?]*)" $cdn_raw;
    }}

    # ok | region_not_served | bad_path, decided on the raw path only.
    map $cdn_raw_path $cdn_path_check {{
        "~\\.\\." bad_path;
        "~^/cdn/{region}/{obj}$" ok;
        "~^/cdn/{_REGION}/{obj}$" region_not_served;
        default bad_path;
    }}

    # Only read once $cdn_path_check is ok, so these may be loose.
    map $cdn_raw_path $cdn_prefix {{
        "~^(?<cdn_pfx>/cdn/[A-Z]{{2}}/[a-z0-9-]+/)" $cdn_pfx;
        default "";
    }}
    map $cdn_raw_path $cdn_origin_path {{
        "~^/cdn/[A-Z]{{2}}/(?<cdn_t>[a-z0-9-]+)/(?<cdn_o>.+)$" /titles/$cdn_t/renditions/$cdn_o;
        default "";
    }}

    geo $cdn_client_blocked {{
        default 0;
{blocked}    }}

    # Headers that only some responses carry (add_header skips empty values).
    map $request_method $cdn_cors_methods {{
        OPTIONS "GET, HEAD, OPTIONS";
        default "";
    }}
    map $request_method $cdn_cors_headers {{
        OPTIONS "Range, If-None-Match, If-Modified-Since, Origin";
        default "";
    }}
    map $request_method $cdn_cors_max_age {{
        OPTIONS "{spec.cors_max_age_s}";
        default "";
    }}
    map $status $cdn_allow {{
        405 "GET, HEAD, OPTIONS";
        default "";
    }}

    proxy_cache_path "{spec.cache_dir}" levels=1:2 keys_zone={zone}:{spec.cache_keys_zone_size}
        max_size={spec.cache_max_size} inactive={spec.cache_inactive} use_temp_path=off;

    upstream origin_{region} {{
        server {_hostport(spec.origin_host, spec.origin_port)};
{keepalive}    }}

    server {{
        listen {_hostport(spec.host, spec.port)};
        server_name _;
        default_type text/plain;

        set $cdn_reason "";

        # Every header is added here, once: a location with its own add_header would drop these.
        add_header X-Cache-Status $upstream_cache_status always;
        add_header Access-Control-Allow-Origin "*" always;
        add_header Access-Control-Expose-Headers "Content-Length, Content-Range, ETag, X-Cache-Status" always;
        add_header Access-Control-Allow-Methods $cdn_cors_methods always;
        add_header Access-Control-Allow-Headers $cdn_cors_headers always;
        add_header Access-Control-Max-Age $cdn_cors_max_age always;
        add_header Allow $cdn_allow always;

        location = /edge/health {{
            access_log off;
            return 200 "ok {region}\\n";
        }}

        location / {{
            set $cdn_reason not_found;
            return 404 "not found\\n";
        }}

        location /cdn/ {{
            # nginx's error messages quote the request line, query (token) included; here only
            # critical ones are logged, the access log's status/upstream_status tell the rest.
            error_log "{spec.error_log_path}" crit;

            if ($cdn_client_blocked) {{
                set $cdn_reason client_blocked;
                return 403 "client blocked\\n";
            }}
            if ($cdn_path_check = bad_path) {{
                set $cdn_reason bad_path;
                return 400 "bad object path\\n";
            }}
            if ($cdn_path_check = region_not_served) {{
                set $cdn_reason region_not_served;
                return 403 "region not served here\\n";
            }}
            if ($request_method = OPTIONS) {{
                return 204;
            }}
            if ($request_method !~ "^(GET|HEAD)$") {{
                set $cdn_reason method_not_allowed;
                return 405 "method not allowed\\n";
            }}

            secure_link $arg_t,$arg_e;
            secure_link_md5 "$secure_link_expires$cdn_prefix$arg_s {spec.secret}";
            if ($secure_link = "") {{
                set $cdn_reason bad_token;
                return 403 "bad token\\n";
            }}
            if ($secure_link = "0") {{
                set $cdn_reason expired;
                return 403 "token expired\\n";
            }}

            proxy_cache {zone};
            proxy_cache_key $cdn_origin_path;
            proxy_cache_valid 200 {spec.cache_valid};
            # An expired object is revalidated (If-None-Match/If-Modified-Since), not refetched.
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            proxy_cache_lock_timeout {timeout};
            proxy_cache_lock_age {timeout};
            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
            proxy_cache_methods GET HEAD;
            proxy_force_ranges on;
            # The origin's headers must not shorten, vary or disable caching of immutable objects.
            proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires
                X-Accel-Redirect X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset;
            proxy_hide_header Set-Cookie;
            proxy_hide_header Access-Control-Allow-Origin;

            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Cookie "";
            proxy_set_header Authorization "";
            proxy_connect_timeout {connect};
            proxy_send_timeout {timeout};
            proxy_read_timeout {timeout};
            proxy_next_upstream error timeout;
            # The origin path without the query: the token never leaves the edge.
            proxy_pass http://origin_{region}$cdn_origin_path;
        }}
    }}
}}
"""


def write_nginx_conf(
    spec: EdgeSpec,
    path: Path,
    *,
    run_dir: Path | None = None,
    worker_user: str | None | bool = True,
) -> Path:
    """Render `spec` into `path` with mode 0600 (it holds the secret); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_nginx_conf(spec, run_dir=run_dir, worker_user=worker_user)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    return path


# --------------------------------------------------------------------------------------------
# pre-warming
# --------------------------------------------------------------------------------------------


class WarmResult(NamedTuple):
    """What pre-warming did at one edge (the fields of `vod.playback.v1.EdgeWarmResult`)."""

    objects: int
    """Objects requested through the edge."""
    already_cached: int
    """Of those, how many the edge already had (`X-Cache-Status: HIT`)."""
    bytes: int
    """Body bytes transferred from the edge."""


async def prewarm(
    edge_base_url: str,
    urls: list[str] | tuple[str, ...],
    *,
    concurrency: int = 8,
    timeout_s: float = 30.0,
    client: httpx.AsyncClient | None = None,
) -> WarmResult:
    """Fetch every signed URL through the edge at `edge_base_url`, so later viewers hit.

    `urls` are signed object URLs (`playback_tokens.edge_url`), absolute or relative to the edge;
    absolute ones must point at this edge. Bodies are streamed and discarded. Raises
    `httpx.HTTPStatusError` on the first non-2xx answer (a bad token, an unknown object).
    """
    base = edge_base_url.rstrip("/")
    targets: list[str] = []
    for url in urls:
        if url.startswith("/"):
            targets.append(base + url)
        elif url.startswith(base + "/"):
            targets.append(url)
        else:
            raise ValueError(f"{url!r} is not on the edge {base}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def one(http: httpx.AsyncClient, url: str) -> tuple[bool, int]:
        async with gate, http.stream("GET", url) as response:
            response.raise_for_status()
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            return response.headers.get("x-cache-status") == "HIT", size

    async def run(http: httpx.AsyncClient) -> WarmResult:
        results = await asyncio.gather(*(one(http, url) for url in targets))
        return WarmResult(
            objects=len(results),
            already_cached=sum(1 for hit, _ in results if hit),
            bytes=sum(size for _, size in results),
        )

    if client is not None:
        return await run(client)
    async with httpx.AsyncClient(timeout=timeout_s) as http:
        return await run(http)
