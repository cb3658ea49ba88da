"""Per-session manifests: the origin's HLS master and media playlists and DASH MPD of a title's
media, filtered to the video renditions a session may play, with every init, segment and
subtitle URL made absolute on the session's regional edge and signed for the session
(`playback_tokens.edge_url`), so a leaked URL expires with the session token and is worthless
for another title or region.

The origin writes segment URLs relative to `titles/<t>/manifests/<media>/` (e.g.
`../../renditions/<media>/<track>/seg-00001.m4s`); they are resolved against that folder and must
land in `titles/<t>/renditions/<media>/<track>/<file>`, or the manifest is refused.

Encrypted titles (`Protection`):

* DASH: the origin MPD signals CENC per Representation (`mp4protection` with `cenc:default_KID`,
  one KID per rung class, and ClearKey without a licence URL). Each remaining ContentProtection
  is kept; the session's licence URL goes into the ClearKey one (`dashif:laurl` and the older
  `clearkey:Laurl`, so dash.js and Shaka both find it), and the configured vendor systems
  (`VOD_DRM_SIGNAL`) are added with their `cenc:pssh` for that KID. Rungs above the cap are
  removed with their ContentProtection, so their KIDs never reach the session.
* HLS: the AES-128 copies of the segments live in track `<track>-aes`, with their own origin
  media playlists (`<track>-aes.m3u8`) whose `#EXT-X-KEY:METHOD=AES-128,URI="key://<kid>",IV=...`
  gets the session's key URI (licensing's `/v1/hlsKeys/<kid>?session_token=`). Every segment of
  such a playlist must be in `<track>-aes`, or it is refused (never a clear or CENC object).
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

from services.runtime import drm

if TYPE_CHECKING:
    from services.playback.deps import OriginManifests

__all__ = [
    "AES_SUFFIX",
    "ManifestError",
    "Protection",
    "Signer",
    "hls_key_url",
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

AES_SUFFIX = "-aes"
"""Track suffix of the HLS AES-128 copy of a track's segments (`720p-h264-aes`)."""
KEY_SCHEME = "key://"
"""How the origin's HLS playlists name a content key: `URI="key://<32 hex digits>"`."""
_KID = re.compile(r"^[0-9a-f]{32}$")
_MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
_CENC_NS = drm.NAMESPACES["cenc"]
_LAURL_NAMES = ("laurl", "Laurl")


@dataclass(frozen=True)
class Protection:
    """What a session of an encrypted title puts in its manifests."""

    license_url: str
    """The session's ClearKey licence URL (DASH)."""
    key_url: Callable[[str], str]
    """KID (32 hex digits) -> the session's HLS key URI for it."""
    drm_signal: tuple[str, ...] = ()
    """Vendor systems (`drm.VENDOR_SYSTEMS` names) to signal in the MPD."""


def hls_key_url(base: str, kid: str, token: str) -> str:
    """Licensing's HLS AES-128 key endpoint through the gateway, authorised by the token."""
    return f"{base.rstrip('/')}/v1/hlsKeys/{kid}?" + urlencode({"session_token": token})


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
    """The track id of a sibling media playlist URI (`720p-h264.m3u8`), or None. The AES-128
    copy's playlist (`720p-h264-aes.m3u8`) names its track (`720p-h264`): sessions address
    tracks, and which copy a session gets is decided when its media playlist is served."""
    if not uri.endswith(".m3u8") or "/" in uri:
        return None
    track = uri[: -len(".m3u8")].removesuffix(AES_SUFFIX)
    return track if track and _TRACK.match(track) else None


# -- HLS --------------------------------------------------------------------------------------


def hls_tracks(master: str) -> tuple[list[tuple[str, int]], list[str]]:
    """The master's variants as (track, height) and its other tracks (audio and subtitles
    renditions, the trick-play image stream)."""
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
        elif line.startswith(("#EXT-X-MEDIA:", "#EXT-X-IMAGE-STREAM-INF:")):
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
    audio, subtitles, the trick-play image stream) replaced by `playlist_url(track)`."""
    out: list[str] = []
    stream_inf: str | None = None
    for raw in master.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("#EXT-X-STREAM-INF:"):
            stream_inf = line
            continue
        if line.startswith("#EXT-X-I-FRAME-STREAM-INF:"):
            continue  # none are written by the origin; never pass through unsigned URIs
        if line.startswith("#EXT-X-SESSION-KEY:"):
            continue  # optional, and would name the keys of rungs above the session's cap
        if line.startswith(("#EXT-X-MEDIA:", "#EXT-X-IMAGE-STREAM-INF:")):
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


def rewrite_hls_media(
    playlist: str,
    origin: Origin,
    sign: Signer,
    *,
    key_url: Callable[[str], str] | None = None,
    track: str | None = None,
) -> str:
    """A media playlist with its EXT-X-MAP and segment URIs signed on the edge. With `key_url`
    (an AES-128 playlist of an encrypted title), each `EXT-X-KEY` URI `key://<kid>` becomes
    `key_url(kid)` (METHOD, IV and the rest kept) and every object must be in `track`."""

    def signed(uri: str) -> str:
        object_track, file = origin.object_of(uri)
        if track is not None and object_track != track:
            raise ManifestError(f"segment of track {object_track!r} in the playlist of {track!r}")
        return sign(object_track, file)

    out: list[str] = []
    for raw in playlist.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("#EXT-X-KEY:") and key_url is not None:
            line = _rewrite_key(line, key_url)
        elif line.startswith("#EXT-X-MAP:"):
            match = _ATTR_URI.search(line)
            if match is None:
                raise ManifestError("EXT-X-MAP without URI")
            line = line.replace(match.group(0), f'URI="{signed(match.group(1))}"')
        elif line and not line.startswith("#"):
            line = signed(line.strip())
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def _rewrite_key(line: str, key_url: Callable[[str], str]) -> str:
    """`#EXT-X-KEY:METHOD=AES-128,URI="key://<kid>",IV=0x...` with the session's key URI. Only
    AES-128 with a `key://` URI of a well-formed KID (or METHOD=NONE) is let through."""
    method = re.search(r"METHOD=([A-Z0-9-]+)", line)
    if method is not None and method.group(1) == "NONE":
        return line
    if method is None or method.group(1) != "AES-128":
        raise ManifestError("an encrypted title's playlist must use EXT-X-KEY METHOD=AES-128")
    match = _ATTR_URI.search(line)
    kid = match.group(1).removeprefix(KEY_SCHEME) if match else ""
    if match is None or not match.group(1).startswith(KEY_SCHEME) or not _KID.match(kid):
        raise ManifestError("EXT-X-KEY URI is not key://<32 hex digits>")
    return line.replace(match.group(0), f'URI="{key_url(kid)}"')


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


async def media_objects(
    source: OriginManifests, title: str, media: str, *, encrypted: bool = False
) -> list[tuple[str, str]]:
    """Every object (init, segments, subtitles) of every track of a media, from its HLS
    manifests on the origin: what pre-warming fetches through the edges. For an encrypted
    media, the AES-128 copies (`<track>-aes`) too, and the CENC segments from the MPD."""
    origin = Origin(title, media)
    master = await source.get(origin.folder + "master.m3u8")
    variants, others = hls_tracks(master)
    objects: list[tuple[str, str]] = []
    for track in [t for t, _ in variants] + others:
        names = [f"{track}.m3u8", f"{track}{AES_SUFFIX}.m3u8"] if encrypted else [f"{track}.m3u8"]
        for name in names:
            try:
                playlist = await source.get(origin.folder + name)
            except LookupError:
                if not encrypted:
                    raise
                continue
            objects += hls_objects(playlist, origin)
    if encrypted:
        objects += mpd_objects(await source.get(origin.folder + "manifest.mpd"), origin)
    return list(dict.fromkeys(objects))


# -- DASH -------------------------------------------------------------------------------------


def _namespaces(document: str) -> list[tuple[str, str]]:
    return [ns for _event, ns in ET.iterparse(io.StringIO(document), events=("start-ns",))]  # type: ignore[misc]


def rewrite_mpd(
    document: str,
    allowed: Collection[str],
    origin: Origin,
    sign: Signer,
    *,
    protection: Protection | None = None,
) -> str:
    """The MPD with only the `allowed` video Representations (the lowest stays if none is),
    SegmentTemplate `initialization`/`media` and Representation BaseURLs made absolute signed
    edge URLs, and folder BaseURLs (which would re-base them) dropped. With `protection`, the
    ContentProtection of what remains gets the session's licence URL and vendor signalling."""
    for prefix, uri in [*drm.NAMESPACES.items(), *_namespaces(document)]:
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
    if protection is not None:
        for parent in [*root.iter(q("AdaptationSet")), *root.iter(q("Representation"))]:
            _protect(parent, q, ns, protection)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _scheme(element: ET.Element) -> str:
    return (element.get("schemeIdUri") or "").lower()


def _protect(parent: ET.Element, q: Callable[[str], str], ns: str, protection: Protection) -> None:
    """One AdaptationSet's or Representation's ContentProtection for a session: the origin's
    kept, the licence URL put into ClearKey's (replacing any), ClearKey added if the origin
    only signalled CENC, and the vendor systems' (with `cenc:pssh` for the element's
    `cenc:default_KID`) appended after the last ContentProtection."""
    existing = parent.findall(q("ContentProtection"))
    if not existing:
        return
    clearkey_scheme = drm.CLEARKEY.scheme_id_uri
    clearkeys = [e for e in existing if _scheme(e) == clearkey_scheme]
    for clearkey in clearkeys:
        _set_license_url(clearkey, protection.license_url)
    cenc = next((e for e in existing if _scheme(e) == _MP4PROTECTION), None)
    kid = cenc.get(f"{{{_CENC_NS}}}default_KID") if cenc is not None else None
    if not kid:
        return
    try:
        generated = {_scheme(e): e for e in _generated(ns, drm.kid_bytes(kid), protection)}
    except ValueError as exc:
        raise ManifestError(f"malformed cenc:default_KID {kid!r}") from exc
    additions = [] if clearkeys else [generated[clearkey_scheme]]
    present = {_scheme(e) for e in existing}
    for name in protection.drm_signal:
        scheme = drm.SYSTEMS[name].scheme_id_uri
        if scheme in generated and scheme not in present:  # FairPlay has no DASH signalling
            additions.append(generated[scheme])
    position = list(parent).index(existing[-1]) + 1
    for offset, element in enumerate(additions):
        parent.insert(position + offset, element)


def _set_license_url(clearkey: ET.Element, url: str) -> None:
    """ClearKey's licence URL as DASH-IF CPS `dashif:laurl` and the older `clearkey:Laurl`."""
    for child in list(clearkey):
        if child.tag.rsplit("}", 1)[-1] in _LAURL_NAMES:
            clearkey.remove(child)
    dashif = ET.Element(f"{{{drm.NAMESPACES['dashif']}}}laurl")
    dashif.text = url
    legacy = ET.Element(f"{{{drm.NAMESPACES['clearkey']}}}Laurl", {"Lic_type": "EME-1.0"})
    legacy.text = url
    clearkey.insert(0, dashif)
    clearkey.insert(1, legacy)


def _generated(ns: str, kid: bytes, protection: Protection) -> list[ET.Element]:
    """`drm.dash_content_protection`'s elements for one KID, parsed in the MPD's namespace."""
    systems = [drm.SYSTEMS[name] for name in protection.drm_signal]
    elements = drm.dash_content_protection(systems, kid, protection.license_url)
    declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in drm.NAMESPACES.items())
    default = f'xmlns="{ns}" ' if ns else ""
    wrapper = ET.fromstring(f"<wrap {default}{declarations}>{''.join(elements)}</wrap>")
    return list(wrapper)


def mpd_objects(document: str, origin: Origin) -> list[tuple[str, str]]:
    """(track, file) of every init and media segment of an MPD's SegmentTemplates with a
    SegmentTimeline (`$Number$` expanded), and of its Representation BaseURLs."""
    root = ET.fromstring(document)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}" if ns else tag

    found: list[tuple[str, str]] = []
    for rep in root.iter(q("Representation")):
        for base in rep.findall(q("BaseURL")):
            if base.text and base.text.strip():
                found.append(origin.object_of(base.text.strip()))
        for template in rep.findall(q("SegmentTemplate")):
            init = template.get("initialization")
            if init:
                found.append(origin.object_of(init))
            media = template.get("media") or ""
            count = sum(1 + int(s.get("r", "0") or 0) for s in template.iter(q("S")))
            start = int(template.get("startNumber", "1") or 1)
            for number in range(start, start + count):
                found.append(origin.object_of(_number(media, number)))
    return found


_NUMBER = re.compile(r"\$Number(?:%0(\d+)d)?\$")


def _number(template: str, number: int) -> str:
    return _NUMBER.sub(lambda m: f"{number:0{int(m.group(1) or 0)}d}", template)


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
