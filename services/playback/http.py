"""The per-session manifest endpoint (aiohttp), where `PlaybackSession.manifest_url` points:

    GET /play/v1/sessions/<session>/master.m3u8?token=<session token>   HLS master
    GET /play/v1/sessions/<session>/<track>.m3u8?token=...              HLS media playlist
    GET /play/v1/sessions/<session>/manifest.mpd?token=...              DASH MPD

The token must be a genuine, unexpired session token for that session, and the session must be
live (ACTIVE, lease not run out): 403 otherwise. Paths are matched on the raw request path
against strict patterns, so `..`, encoded slashes and anything unexpected are 404; no input
produces a 5xx. Nothing is logged with its query string (tokens are bearer credentials).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from services.playback import manifests
from services.playback.domain import PlaybackDomain, SessionRecord, clearkey_license_url
from services.runtime import playback_tokens
from services.runtime.errors import DomainError
from services.runtime.logs import get_logger
from services.runtime.processes import shares_port

__all__ = ["ManifestEndpoint", "create_app", "start_http"]

_log = get_logger("playback.http")

_PATH = re.compile(
    r"^/play/v1/sessions/(?P<session>[a-z0-9][a-z0-9-]{0,62})/"
    r"(?P<file>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)
HLS_TYPE = "application/vnd.apple.mpegurl"
DASH_TYPE = "application/dash+xml"
_HEADERS = {"Cache-Control": "private, no-store", "Access-Control-Allow-Origin": "*"}


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response(
        {"code": status, "reason": reason, "message": message}, status=status, headers=_HEADERS
    )


@dataclass
class ManifestEndpoint:
    domain: PlaybackDomain

    async def render(self, session_id: str, file: str, token: str) -> tuple[str, str]:
        """(content type, body) of one per-session manifest; `_Refused` otherwise."""
        settings = self.domain.settings
        if file == "master.m3u8":
            kind, track = "master", ""
        elif file == "manifest.mpd":
            kind, track = "mpd", ""
        elif file.endswith(".m3u8") and not file.startswith("."):
            kind, track = "media", file[: -len(".m3u8")]
        else:
            raise _Refused(404, "NOT_FOUND", "no such manifest")
        try:
            claims = playback_tokens.verify_session_token(settings.playback_secret, token)
        except playback_tokens.TokenError as exc:
            raise _Refused(403, "BAD_TOKEN", str(exc)) from exc
        if claims.session != session_id:
            raise _Refused(403, "BAD_TOKEN", "the token is for another session")
        session = await self.domain.repository.get_session(session_id)
        if (
            session is None
            or session.title != f"titles/{claims.title}"
            or session.region != claims.region
        ):
            raise _Refused(403, "BAD_TOKEN", "the token is for another session")
        if not session.live(self.domain.clock()):
            raise _Refused(403, "SESSION_ENDED", "the session was stopped or expired")
        edge = settings.edge_map.get(session.region)
        if edge is None:
            raise _Refused(403, "NO_EDGE_FOR_REGION", "no edge serves the session's region")
        origin = manifests.Origin(claims.title, session.media.removeprefix("media/"))
        sign = _signer(self.domain, session, edge)
        protection = _protection(self.domain, session, token)
        try:
            if kind == "master":
                master = await self.domain.origin.get(origin.folder + "master.m3u8")
                query = urlencode({"token": token})
                body = manifests.rewrite_hls_master(
                    master, session.video_tracks, lambda t: f"{t}.m3u8?{query}"
                )
                return HLS_TYPE, body
            if kind == "mpd":
                mpd = await self.domain.origin.get(origin.folder + "manifest.mpd")
                body = manifests.rewrite_mpd(
                    mpd, session.video_tracks, origin, sign, protection=protection
                )
                return DASH_TYPE, body
            master = await self.domain.origin.get(origin.folder + "master.m3u8")
            variants, others = manifests.hls_tracks(master)
            if track in {v for v, _ in variants} and track not in session.video_tracks:
                raise _Refused(403, "RENDITION_NOT_ALLOWED", "the plan or device excludes it")
            if track not in session.video_tracks and track not in others:
                raise _Refused(404, "NOT_FOUND", "no such track")
            if protection is not None:
                video = track in session.video_tracks
                return HLS_TYPE, await self._aes_media(origin, track, video, sign, protection)
            playlist = await self.domain.origin.get(origin.folder + f"{track}.m3u8")
            return HLS_TYPE, manifests.rewrite_hls_media(playlist, origin, sign)
        except LookupError as exc:
            raise _Refused(404, "NOT_FOUND", "the media has no such manifest") from exc
        except manifests.ManifestError as exc:
            _log.warning("manifest.invalid_origin", session=session_id, error=str(exc))
            raise _Refused(502, "BAD_ORIGIN_MANIFEST", "the origin manifest is invalid") from exc

    async def _aes_media(
        self,
        origin: manifests.Origin,
        track: str,
        video: bool,
        sign: manifests.Signer,
        protection: manifests.Protection,
    ) -> str:
        """An encrypted title's media playlist: the AES-128 copy `<track>-aes` with the session's
        key URIs. A track without one (subtitles, never encrypted) is served from its own
        playlist if that has no EXT-X-KEY; a video rung must have one (404 otherwise: a rung of
        an encrypted title is never served from another copy)."""
        aes = f"{track}{manifests.AES_SUFFIX}"
        try:
            playlist = await self.domain.origin.get(origin.folder + f"{aes}.m3u8")
        except LookupError:
            if video:
                raise
            playlist = await self.domain.origin.get(origin.folder + f"{track}.m3u8")
            if "#EXT-X-KEY:" in playlist:
                raise
            return manifests.rewrite_hls_media(playlist, origin, sign)
        return manifests.rewrite_hls_media(
            playlist, origin, sign, key_url=protection.key_url, track=aes
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _error(405, "METHOD_NOT_ALLOWED", "GET only")
        path = request.raw_path.split("?", 1)[0]
        match = _PATH.match(path)
        if match is None:
            return _error(404, "NOT_FOUND", "no such path")
        try:
            tokens = request.query.getall("token", [])
        except Exception:  # an undecodable query string
            tokens = []
        if len(tokens) != 1:
            return _error(403, "BAD_TOKEN", "exactly one token query parameter is required")
        try:
            content_type, body = await self.render(match["session"], match["file"], tokens[0])
        except _Refused as refused:
            return _error(refused.status, refused.reason, refused.message)
        except DomainError as exc:  # a dependency is down (origin): retryable, not the input
            return _error(503, exc.reason, exc.message)
        return web.Response(text=body, content_type=content_type.split(";")[0], headers=_HEADERS)


def _protection(
    domain: PlaybackDomain, session: SessionRecord, token: str
) -> manifests.Protection | None:
    """What an encrypted title's manifests carry for this session (its token in the licence
    URL and key URIs); None for a clear title."""
    if not session.encrypted:
        return None
    settings = domain.settings
    base = settings.public_license_base
    return manifests.Protection(
        license_url=clearkey_license_url(base, token),
        key_url=lambda kid: manifests.hls_key_url(base, kid, token),
        drm_signal=settings.drm_signal,
    )


def _signer(domain: PlaybackDomain, session: SessionRecord, edge: str) -> manifests.Signer:
    settings = domain.settings
    title = session.title.removeprefix("titles/")
    media = session.media.removeprefix("media/")

    def sign(track: str, file: str) -> str:
        return playback_tokens.edge_url(
            edge,
            settings.edge_secret,
            region=session.region,
            title=title,
            media=media,
            track=track,
            file=file,
            session=session.id,
            expires=session.token_expires,
        )

    return sign


@web.middleware
async def _never_5xx_on_input(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return _error(exc.status, exc.reason.upper().replace(" ", "_"), exc.reason)
    except Exception:
        _log.exception("manifest.unhandled")
        return _error(500, "INTERNAL", "internal error")


def create_app(domain: PlaybackDomain) -> web.Application:
    endpoint = ManifestEndpoint(domain)
    app = web.Application(middlewares=[_never_5xx_on_input])
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    return app


async def start_http(domain: PlaybackDomain, address: str) -> tuple[web.AppRunner, int]:
    """Serve the manifest endpoint on `address` ("127.0.0.1:0" picks a free port)."""
    host, _, port = address.rpartition(":")
    runner = web.AppRunner(create_app(domain), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_port=shares_port())
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)
