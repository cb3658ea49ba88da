"""Per-session manifests: the origin's HLS master and media playlists and DASH MPD of a title's
media, filtered to the video renditions a session may play, with every init, segment and
subtitle URL made absolute on the session's regional edge and signed for the session
(`playback_tokens.edge_url`), so a leaked URL expires with the session token and is worthless
for another title or region.

The origin writes segment URLs relative to `titles/<t>/manifests/<media>/` (e.g.
`../../renditions/<media>/<track>/seg-00001.m4s`); they are resolved against that folder and must
land in `titles/<t>/renditions/<media>/<track>/<file>`, or the manifest is refused.
"""

from __future__ import annotations

import io
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from services.playback.deps import OriginManifests

__all__ = [
    "ManifestError",
    "Signer",
    "hls_tracks",
    "media_objects",
    "rewrite_hls_master",
    "rewrite_hls_media",
    "rewrite_mpd",
]

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_OBJECT = re.compile(
    r"^titles/(?P<title>[a-z0-9][a-z0-9-]{0,62})/renditions/(?P<media>[a-z0-9][a-z0-9-]{0,62})/"
    r"(?P<track>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})/(?P<file>[A-Za-z0-9_$][A-Za-z0-9_.$%-]{0,127})$"
)
_TRACK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ATTR_URI = re.compile(r'URI="([^"]*)"')
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")

Signer = Callable[[str, str], str]
"""(track, file) -> the absolute signed edge URL of that object."""


class ManifestError(ValueError):
    """The origin manifest points somewhere a session may not go (another title or media)."""


@dataclass(frozen=True)
class Origin:
    """Where a media's manifests live on the origin."""

    title: str
    media: str

    @property
    def folder(self) -> str:
        return f"titles/{self.title}/manifests/{self.media}/"

    def object_of(self, uri: str) -> tuple[str, str]:
        """(track, file) of a relative URI in one of the media's manifests."""
        if "://" in uri or uri.startswith("/") or "?" in uri or "#" in uri:
            raise ManifestError(f"unexpected URI in an origin manifest: {uri!r}")
        path = posixpath.normpath(posixpath.join(self.folder, uri))
        match = _OBJECT.match(path)
        if match is None or match["title"] != self.title or match["media"] != self.media:
            raise ManifestError(f"URI outside the media's renditions: {uri!r}")
        return match["track"], match["file"]


def _track_of_playlist(uri: str) -> str | None:
    """The track id of a sibling media playlist URI (`720p-h264.m3u8`), or None."""
    if not uri.endswith(".m3u8") or "/" in uri:
        return None
    track = uri[: -len(".m3u8")]
    return track if _TRACK.match(track) else None


# -- HLS --------------------------------------------------------------------------------------


def hls_tracks(master: str) -> tuple[list[tuple[str, int]], list[str]]:
    """The master's variants as (track, height) and its renditions (audio, subtitles) tracks."""
    variants: list[tuple[str, int]] = []
    others: list[str] = []
    height = 0
    pending = False
    for raw in master.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            match = _RESOLUTION.search(line)
            height = int(match.group(2)) if match else 0
            pending = True
        elif line.startswith("#EXT-X-MEDIA:"):
            match = _ATTR_URI.search(line)
            track = _track_of_playlist(match.group(1)) if match else None
            if track:
                others.append(track)
        elif line and not line.startswith("#") and pending:
            track = _track_of_playlist(line)
            if track:
                variants.append((track, height))
            pending = False
    return variants, others


def rewrite_hls_master(
    master: str, allowed: Collection[str], playlist_url: Callable[[str], str]
) -> str:
    """The master with only the `allowed` video variants; every media playlist URI (variants,
    audio, subtitles) replaced by `playlist_url(track)`."""
    out: list[str] = []
    stream_inf: str | None = None
    for raw in master.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("#EXT-X-STREAM-INF:"):
            stream_inf = line
            continue
        if line.startswith("#EXT-X-I-FRAME-STREAM-INF:"):
            continue  # none are written by the origin; never pass through unsigned URIs
        if line.startswith("#EXT-X-MEDIA:"):
            match = _ATTR_URI.search(line)
            if match:
                track = _track_of_playlist(match.group(1))
                if track is None:
                    raise ManifestError("unexpected rendition URI in the origin master")
                line = line.replace(match.group(0), f'URI="{playlist_url(track)}"')
            out.append(line)
            continue
        if stream_inf is not None and line and not line.startswith("#"):
            track = _track_of_playlist(line.strip())
            if track is None:
                raise ManifestError("unexpected variant URI in the origin master")
            if track in allowed:
                out += [stream_inf, playlist_url(track)]
            stream_inf = None
            continue
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def rewrite_hls_media(playlist: str, origin: Origin, sign: Signer) -> str:
    """A media playlist with its EXT-X-MAP and segment URIs signed on the edge."""
    out: list[str] = []
    for raw in playlist.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("#EXT-X-MAP:"):
            match = _ATTR_URI.search(line)
            if match is None:
                raise ManifestError("EXT-X-MAP without URI")
            line = line.replace(match.group(0), f'URI="{sign(*origin.object_of(match.group(1)))}"')
        elif line and not line.startswith("#"):
            line = sign(*origin.object_of(line.strip()))
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def hls_objects(playlist: str, origin: Origin) -> list[tuple[str, str]]:
    """(track, file) of the init and media segments of a media playlist, in order."""
    found: list[tuple[str, str]] = []
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            match = _ATTR_URI.search(line)
            if match:
                found.append(origin.object_of(match.group(1)))
        elif line and not line.startswith("#"):
            found.append(origin.object_of(line))
    return found


async def media_objects(source: OriginManifests, title: str, media: str) -> list[tuple[str, str]]:
    """Every object (init, segments, subtitles) of every track of a media, from its HLS
    manifests on the origin: what pre-warming fetches through the edges."""
    origin = Origin(title, media)
    master = await source.get(origin.folder + "master.m3u8")
    variants, others = hls_tracks(master)
    objects: list[tuple[str, str]] = []
    for track in [t for t, _ in variants] + others:
        playlist = await source.get(origin.folder + f"{track}.m3u8")
        objects += hls_objects(playlist, origin)
    return list(dict.fromkeys(objects))


# -- DASH -------------------------------------------------------------------------------------


def _namespaces(document: str) -> list[tuple[str, str]]:
    return [ns for _event, ns in ET.iterparse(io.StringIO(document), events=("start-ns",))]  # type: ignore[misc]


def rewrite_mpd(document: str, allowed: Collection[str], origin: Origin, sign: Signer) -> str:
    """The MPD with only the `allowed` video Representations (the lowest stays if none is),
    SegmentTemplate `initialization`/`media` and Representation BaseURLs made absolute signed
    edge URLs, and folder BaseURLs (which would re-base them) dropped."""
    for prefix, uri in _namespaces(document):
        ET.register_namespace(prefix, uri)
    root = ET.fromstring(document)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}" if ns else tag

    _drop_folder_base_urls(root, q)
    for adaptation in root.iter(q("AdaptationSet")):
        representations = adaptation.findall(q("Representation"))
        if _is_video(adaptation, representations):
            keep = [r for r in representations if r.get("id") in allowed]
            if not keep and representations:
                keep = [min(representations, key=lambda r: int(r.get("height", "0") or 0))]
            for rep in representations:
                if rep not in keep:
                    adaptation.remove(rep)
            heights = [int(r.get("height", "0") or 0) for r in keep]
            widths = [int(r.get("width", "0") or 0) for r in keep]
            if adaptation.get("maxHeight") is not None and heights:
                adaptation.set("maxHeight", str(max(heights)))
            if adaptation.get("maxWidth") is not None and widths:
                adaptation.set("maxWidth", str(max(widths)))
        for template in adaptation.iter(q("SegmentTemplate")):
            for attribute in ("initialization", "media"):
                value = template.get(attribute)
                if value:
                    template.set(attribute, sign(*origin.object_of(value)))
        for rep in adaptation.findall(q("Representation")):
            for base in rep.findall(q("BaseURL")):
                if base.text and base.text.strip():
                    base.text = sign(*origin.object_of(base.text.strip()))
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _is_video(adaptation: ET.Element, representations: list[ET.Element]) -> bool:
    kind = adaptation.get("contentType") or adaptation.get("mimeType", "").split("/")[0]
    if kind:
        return kind == "video"
    return any(r.get("height") for r in representations)


def _drop_folder_base_urls(root: ET.Element, q: Callable[[str], str]) -> None:
    """BaseURLs above Representations (MPD, Period, AdaptationSet) only re-base the relative
    URLs the rewrite makes absolute; keeping them would be at best dead weight."""
    parents = [root, *root.iter(q("Period")), *root.iter(q("AdaptationSet"))]
    for parent in parents:
        for base in parent.findall(q("BaseURL")):
            parent.remove(base)


def playlist_url(session: str, track: str, token: str) -> str:
    """The per-session media playlist URL, relative to the master's own URL."""
    return f"{track}.m3u8?" + urlencode({"token": token})
