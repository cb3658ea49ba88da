"""Our own HLS (master + media playlists with EXT-X-MAP) and DASH (static MPD with
SegmentTimeline) writers over one set of CMAF segments.

Manifests live in `titles/<t>/manifests/<media>/` and point at the segments in
`titles/<t>/renditions/<media>/<track>/` with relative URLs, so any origin or edge that keeps the
layout serves them unchanged.

Every audio stream of the source is its own rendition: one HLS `EXT-X-MEDIA` TYPE=AUDIO group
("aud", the first DEFAULT=YES) and one DASH audio AdaptationSet per language (Role main, then
alternate). Extra audio sidecars (`TranscodeOptions.audio_tracks`) follow the source's streams in
the same group and as more alternate AdaptationSets; a track with a label is named by it (HLS
NAME, made unique within the group; DASH Label), one without keeps `<language>-<n>`.
WebVTT sidecars are published whole: an HLS SUBTITLES group ("subs") whose media
playlists have one segment, the .vtt itself, and a DASH text/vtt AdaptationSet whose
Representation's BaseURL is the .vtt.

Encrypted titles (see `hls_aes`): each DASH Representation carries its own ContentProtection
(`mp4protection` value `cenc` with its rendition's `cenc:default_KID`, and ClearKey) since rung
classes (SD, HD, UHD, audio) have different keys; the origin MPD names no licence URL (playback's
per-session MPD adds it). HLS lists the AES-128 copies (`<track>-aes.m3u8`), whose EXT-X-KEY
(`METHOD=AES-128,URI="key://<kid>",IV=0x...`) precedes EXT-X-MAP so it covers the init segment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from services.transcoding.cmaf import SplitResult
from services.transcoding.hls_aes import key_uri

__all__ = [
    "ContentProtection",
    "HlsKey",
    "SpriteSheet",
    "THUMBS_PLAYLIST",
    "Subtitle",
    "Track",
    "hls_master",
    "hls_media",
    "hls_subtitle",
    "hls_thumbnails",
    "mpd",
]

CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"


@dataclass(frozen=True)
class ContentProtection:
    """DASH CENC signalling of one Representation."""

    key_id: str  # 32 hex digits


@dataclass(frozen=True)
class HlsKey:
    """The EXT-X-KEY of an AES-128 media playlist: the KID (in the placeholder URI) and the IV."""

    key_id: str  # 32 hex digits
    iv: str  # 32 hex digits (not secret: it is in every playlist)


@dataclass(frozen=True)
class Track:
    id: str  # "720p", "audio-0-und"
    kind: str  # "video" | "audio"
    split: SplitResult
    segments_uri: str  # relative to the manifests folder, ending in "/"
    width: int = 0
    height: int = 0
    fps: float = 0.0
    language: str = "und"
    channels: int = 2
    sample_rate: int = 48000
    label: str = ""  # audio: the name players show (HLS NAME, DASH Label); "" = none given
    protection: ContentProtection | None = None  # DASH (CENC segments)
    hls_key: HlsKey | None = None  # HLS (AES-128 segments)

    @property
    def average_bps(self) -> int:
        total = sum(s.size for s in self.split.segments)
        return int(round(total * 8 / max(self.split.duration, 1e-6)))

    @property
    def peak_bps(self) -> int:
        return max(
            (int(math.ceil(s.size * 8 / max(s.duration, 1e-6))) for s in self.split.segments),
            default=0,
        )


@dataclass(frozen=True)
class SpriteSheet:
    """Trick-play thumbnails: JPEG sheets of `columns` x `rows` tiles, one tile every
    `interval_s`, published as a DASH image adaptation set (DASH-IF IOP thumbnail tiles) and an
    HLS image media playlist (`EXT-X-IMAGE-STREAM-INF` + `EXT-X-TILES`, the trick-play
    extension Roku and Shaka Player read) named `THUMBS_PLAYLIST`."""

    uri_template: str  # relative to the manifests folder, with $Number%03d$ for the sheet
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    interval_s: float
    sheets: int

    @property
    def sheet_seconds(self) -> float:
        return self.interval_s * self.columns * self.rows

    @property
    def bandwidth(self) -> int:
        """Bits per second of the sheets, estimated at ~0.1 byte per pixel."""
        width, height = self.tile_width * self.columns, self.tile_height * self.rows
        return max(1, int(width * height * 8 * 0.1 / self.sheet_seconds))

    def sheet_uri(self, number: int) -> str:
        """The URI of sheet `number` (from 1)."""
        return self.uri_template.replace("$Number%03d$", f"{number:03d}")


THUMBS_PLAYLIST = "thumbs.m3u8"


@dataclass(frozen=True)
class Subtitle:
    id: str  # "sub-0-en"
    uri: str  # the .vtt, relative to the manifests folder
    language: str = "und"
    label: str = ""
    duration: float = 0.0  # of the presentation (the single HLS segment's EXTINF)
    size: int = 0  # bytes of the .vtt

    @property
    def name(self) -> str:
        return self.label or self.language

    @property
    def bandwidth(self) -> int:
        return max(1, int(math.ceil(self.size * 8 / max(self.duration, 1e-6))))


def _fps(fps: float) -> str:
    return f"{fps:.3f}"


def _key_line(track: Track) -> list[str]:
    if track.hls_key is None:
        return []
    key = track.hls_key
    return [f'#EXT-X-KEY:METHOD=AES-128,URI="{key_uri(key.key_id)}",IV=0x{key.iv}']


def hls_media(track: Track) -> str:
    segments = track.split.segments
    target = max(1, math.ceil(max((s.duration for s in segments), default=1.0) - 1e-3))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        *_key_line(track),
        f'#EXT-X-MAP:URI="{track.segments_uri}init.mp4"',
    ]
    for seg in segments:
        lines.append(f"#EXTINF:{seg.duration:.6f},")
        lines.append(f"{track.segments_uri}{seg.file_name}")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def hls_subtitle(subtitle: Subtitle) -> str:
    """A media playlist whose one segment is the whole WebVTT file."""
    return (
        "\n".join(
            [
                "#EXTM3U",
                "#EXT-X-VERSION:7",
                f"#EXT-X-TARGETDURATION:{max(1, math.ceil(subtitle.duration - 1e-3))}",
                "#EXT-X-MEDIA-SEQUENCE:0",
                "#EXT-X-PLAYLIST-TYPE:VOD",
                f"#EXTINF:{subtitle.duration:.6f},",
                subtitle.uri,
                "#EXT-X-ENDLIST",
            ]
        )
        + "\n"
    )


def hls_thumbnails(thumbnails: SpriteSheet, duration: float) -> str:
    """The image media playlist of the trick-play sheets: one sheet per segment, each covering
    `sheet_seconds` (the last one what remains of `duration`), its tiles laid out by
    `EXT-X-TILES`."""
    t = thumbnails
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(t.sheet_seconds - 1e-3))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-IMAGES-ONLY",
    ]
    for number in range(1, t.sheets + 1):
        start = (number - 1) * t.sheet_seconds
        length = max(t.interval_s, min(t.sheet_seconds, duration - start))
        lines += [
            f"#EXTINF:{length:.6f},",
            f"#EXT-X-TILES:RESOLUTION={t.tile_width}x{t.tile_height},"
            f"LAYOUT={t.columns}x{t.rows},DURATION={t.interval_s:.3f}",
            t.sheet_uri(number),
        ]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def hls_master(
    videos: Sequence[Track],
    audios: Sequence[Track],
    subtitles: Sequence[Subtitle] = (),
    thumbnails: SpriteSheet | None = None,
) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_names: set[str] = set()
    for index, audio in enumerate(audios):
        default = "YES" if index == 0 else "NO"
        name = audio.label or f"{audio.language}-{index}"
        if name in audio_names:  # NAME must be unique within the group
            name = f"{name} ({index + 1})"
        audio_names.add(name)
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="{name}",'
            f'LANGUAGE="{audio.language}",DEFAULT={default},AUTOSELECT=YES,'
            f'CHANNELS="{audio.channels}",URI="{audio.id}.m3u8"'
        )
    names: set[str] = set()
    for index, subtitle in enumerate(subtitles):
        name = subtitle.name if subtitle.name not in names else f"{subtitle.name} ({index + 1})"
        names.add(name)  # NAME must be unique within the group
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{name}",'
            f'LANGUAGE="{subtitle.language}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,'
            f'URI="{subtitle.id}.m3u8"'
        )
    audio_peak = max((a.peak_bps for a in audios), default=0)
    audio_avg = max((a.average_bps for a in audios), default=0)
    audio_codec = audios[0].split.codec if audios else ""
    for video in videos:
        codecs = ",".join(c for c in (video.split.codec, audio_codec) if c)
        attrs = [
            f"BANDWIDTH={video.peak_bps + audio_peak}",
            f"AVERAGE-BANDWIDTH={video.average_bps + audio_avg}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={video.width}x{video.height}",
            f"FRAME-RATE={_fps(video.fps)}",
        ]
        if audios:
            attrs.append('AUDIO="aud"')
        if subtitles:
            attrs.append('SUBTITLES="subs"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(f"{video.id}.m3u8")
    if thumbnails is not None and thumbnails.sheets > 0:
        t = thumbnails
        lines.append(
            f"#EXT-X-IMAGE-STREAM-INF:BANDWIDTH={t.bandwidth},"
            f'RESOLUTION={t.tile_width}x{t.tile_height},CODECS="jpeg",URI="{THUMBS_PLAYLIST}"'
        )
    return "\n".join(lines) + "\n"


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _timeline(track: Track) -> str:
    runs: list[list[int]] = []  # [t, d, r]
    for seg in track.split.segments:
        if (
            runs
            and runs[-1][1] == seg.duration_ticks
            and runs[-1][0] + runs[-1][1] * (runs[-1][2] + 1) == seg.start_ticks
        ):
            runs[-1][2] += 1
        else:
            runs.append([seg.start_ticks, seg.duration_ticks, 0])
    return "".join(f'<S t="{t}" d="{d}"' + (f' r="{r}"' if r else "") + "/>" for t, d, r in runs)


def _protection(track: Track, indent: str) -> list[str]:
    if track.protection is None:
        return []
    kid = track.protection.key_id
    uuid = f"{kid[:8]}-{kid[8:12]}-{kid[12:16]}-{kid[16:20]}-{kid[20:]}"
    return [
        f'{indent}<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc" '
        f'cenc:default_KID="{uuid}"/>',
        f'{indent}<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_SYSTEM_ID}" '
        'value="ClearKey1.0"/>',
    ]


def _representation(track: Track) -> list[str]:
    attrs = [
        f"id={quoteattr(track.id)}",
        f'bandwidth="{track.peak_bps}"',
        f'codecs="{track.split.codec}"',
    ]
    if track.kind == "video":
        attrs += [
            f'width="{track.width}"',
            f'height="{track.height}"',
            f'frameRate="{_fps(track.fps)}"',
            'sar="1:1"',
        ]
    else:
        attrs.append(f'audioSamplingRate="{track.sample_rate}"')
    lines = [f"      <Representation {' '.join(attrs)}>"]
    if track.kind == "audio":
        lines.append(
            "        <AudioChannelConfiguration schemeIdUri="
            f'"urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="{track.channels}"/>'
        )
    lines += _protection(track, "        ")  # per Representation: KIDs differ per rung class
    lines += [
        f'        <SegmentTemplate timescale="{track.split.timescale}" '
        f'initialization="{track.segments_uri}init.mp4" '
        f'media="{track.segments_uri}seg-$Number%05d$.m4s" startNumber="1">',
        f"          <SegmentTimeline>{_timeline(track)}</SegmentTimeline>",
        "        </SegmentTemplate>",
        "      </Representation>",
    ]
    return lines


def mpd(
    videos: Sequence[Track],
    audios: Sequence[Track],
    duration: float,
    segment_seconds: float,
    subtitles: Sequence[Subtitle] = (),
    thumbnails: SpriteSheet | None = None,
) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
        'xmlns:dashif="https://dashif.org/CPS" '
        'profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" '
        f'type="static" mediaPresentationDuration="{_iso_duration(duration)}" '
        f'minBufferTime="{_iso_duration(segment_seconds)}">',
        '  <Period id="0" start="PT0S">',
    ]
    if videos:
        top = videos[0]
        lines.append(
            '    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" '
            'segmentAlignment="true" startWithSAP="1" '
            f'maxWidth="{max(v.width for v in videos)}" maxHeight="{max(v.height for v in videos)}" '
            f'frameRate="{_fps(top.fps)}">'
        )
        for video in videos:
            lines += _representation(video)
        lines.append("    </AdaptationSet>")
    for index, audio in enumerate(audios, start=1):
        lines.append(
            f'    <AdaptationSet id="{index}" contentType="audio" mimeType="audio/mp4" '
            f'lang="{audio.language}" segmentAlignment="true" startWithSAP="1">'
        )
        if audio.label:
            lines.append(f"      <Label>{escape(audio.label)}</Label>")
        role = "main" if index == 1 else "alternate"
        lines.append(f'      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="{role}"/>')
        lines += _representation(audio)
        lines.append("    </AdaptationSet>")
    for index, subtitle in enumerate(subtitles, start=len(audios) + 1):
        lines += [
            f'    <AdaptationSet id="{index}" contentType="text" mimeType="text/vtt" '
            f"lang={quoteattr(subtitle.language)}>",
            *([f"      <Label>{escape(subtitle.label)}</Label>"] if subtitle.label else []),
            '      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>',
            f'      <Representation id={quoteattr(subtitle.id)} bandwidth="{subtitle.bandwidth}">',
            f"        <BaseURL>{escape(subtitle.uri)}</BaseURL>",
            "      </Representation>",
            "    </AdaptationSet>",
        ]
    if thumbnails is not None and thumbnails.sheets > 0:
        t = thumbnails
        index = len(audios) + len(subtitles) + 1
        width, height = t.tile_width * t.columns, t.tile_height * t.rows
        bandwidth = t.bandwidth
        lines += [
            f'    <AdaptationSet id="{index}" contentType="image" mimeType="image/jpeg">',
            f'      <Representation id="thumbs" bandwidth="{bandwidth}" '
            f'width="{width}" height="{height}">',
            '        <EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" '
            f'value="{t.columns}x{t.rows}"/>',
            f"        <SegmentTemplate media={quoteattr(t.uri_template)} "
            f'duration="{round(t.sheet_seconds * 1000)}" timescale="1000" startNumber="1"/>',
            "      </Representation>",
            "    </AdaptationSet>",
        ]
    lines += ["  </Period>", "</MPD>"]
    return "\n".join(lines) + "\n"
