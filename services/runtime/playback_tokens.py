"""The two short-lived credentials a playback session hands out, in one place:

* the **session token** (`PlaybackSession.session_token`): proves "this is live session S of
  title T in region R until E" to playback's manifest endpoint and to licensing. It is
  `<session>.<title>.<region>.<expires>.<mac>`, the MAC being HMAC-SHA256 over the other four
  parts under the deployment's playback secret (base64url, no padding). Verifying it needs no
  database; whether the session is still live is the verifier's own check.
* **edge URL signatures**: every segment URL in a per-session manifest carries
  `?s=<session>&e=<expires>&t=<token>`, where `token` is nginx `secure_link`'s format:
  base64url(MD5("<expires><prefix><session> <secret>")) without padding, and `prefix` is
  `/cdn/<region>/<title>/`. An edge checks it with `secure_link` alone (no Python call per
  segment): a URL for another region or title, a changed session id or a past expiry fails, so a
  leaked URL expires and cannot be replayed elsewhere. The secret is per deployment and lives in
  nginx's config and playback's settings only. MD5 is what nginx's `secure_link` offers; the
  secret is a 256-bit suffix, so forging a token means a second pre-image of MD5, not a
  collision, and tokens live minutes.

Identifiers are restricted to `[a-z0-9-]` (sessions, titles, media) and `[A-Z]{2}` (regions), so
the dot-separated and space-separated encodings are unambiguous.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = [
    "EDGE_PATH",
    "SessionClaims",
    "TokenError",
    "edge_prefix",
    "edge_signature",
    "edge_url",
    "issue_session_token",
    "verify_session_token",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A file name, or a DASH SegmentTemplate pattern such as "seg-$Number%05d$.m4s".
_FILE_OR_TEMPLATE = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_.$%-]{0,127}$")

EDGE_PATH = re.compile(
    r"^/cdn/(?P<region>[A-Z]{2})/(?P<title>[a-z0-9][a-z0-9-]{0,62})/"
    r"(?P<media>[a-z0-9][a-z0-9-]{0,62})/(?P<track>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})/"
    r"(?P<file>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)
"""An edge object path: `/cdn/<region>/<title>/<media>/<track>/<file>`, served from the origin's
`/titles/<title>/renditions/<media>/<track>/<file>`."""


class TokenError(ValueError):
    """A token that is malformed, forged or expired; the message says which (never the secret)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check(kind: str, value: str, pattern: re.Pattern[str]) -> None:
    if not pattern.match(value):
        raise ValueError(f"{kind} {value!r} does not match {pattern.pattern}")


@dataclass(frozen=True)
class SessionClaims:
    session: str
    """Session id (the last part of `sessions/{id}`)."""
    title: str
    """Title id (the last part of `titles/{id}`)."""
    region: str
    expires: int
    """Unix seconds."""


def _session_mac(secret: bytes, session: str, title: str, region: str, expires: int) -> str:
    message = f"{session}.{title}.{region}.{expires}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def issue_session_token(secret: bytes, claims: SessionClaims) -> str:
    _check("session", claims.session, _ID)
    _check("title", claims.title, _ID)
    _check("region", claims.region, _REGION)
    mac = _session_mac(secret, claims.session, claims.title, claims.region, claims.expires)
    return f"{claims.session}.{claims.title}.{claims.region}.{claims.expires}.{mac}"


def verify_session_token(secret: bytes, token: str, *, now: float | None = None) -> SessionClaims:
    """The claims of a genuine, unexpired session token; `TokenError` otherwise."""
    if not isinstance(token, str) or len(token) > 512:
        raise TokenError("session token is malformed")
    parts = token.split(".")
    if len(parts) != 5:
        raise TokenError("session token is malformed")
    session, title, region, expires_raw, mac = parts
    if not (
        _ID.match(session)
        and _ID.match(title)
        and _REGION.match(region)
        and expires_raw.isdigit()
        and len(expires_raw) <= 12
    ):
        raise TokenError("session token is malformed")
    expires = int(expires_raw)
    expected = _session_mac(secret, session, title, region, expires)
    if not hmac.compare_digest(expected, mac):
        raise TokenError("session token signature does not match")
    if expires < (time.time() if now is None else now):
        raise TokenError("session token has expired")
    return SessionClaims(session, title, region, expires)


def edge_prefix(region: str, title: str) -> str:
    _check("region", region, _REGION)
    _check("title", title, _ID)
    return f"/cdn/{region}/{title}/"


def edge_signature(secret: str, *, region: str, title: str, session: str, expires: int) -> str:
    """nginx secure_link token for every object under `/cdn/<region>/<title>/` in `session`."""
    _check("session", session, _ID)
    raw = f"{expires}{edge_prefix(region, title)}{session} {secret}".encode()
    return _b64(hashlib.md5(raw, usedforsecurity=False).digest())


def edge_url(
    base: str,
    secret: str,
    *,
    region: str,
    title: str,
    media: str,
    track: str,
    file: str,
    session: str,
    expires: int,
) -> str:
    """Absolute signed URL of one object on the edge at `base` (e.g. http://127.0.0.1:8081)."""
    _check("media", media, _ID)
    _check("track", track, _SEGMENT)
    _check("file", file, _FILE_OR_TEMPLATE)
    token = edge_signature(secret, region=region, title=title, session=session, expires=expires)
    query = urlencode({"s": session, "e": expires, "t": token})
    return f"{base.rstrip('/')}{edge_prefix(region, title)}{media}/{track}/{file}?{query}"
