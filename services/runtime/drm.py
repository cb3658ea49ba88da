"""DRM signalling, pure: protection system ids, `pssh` boxes and the DASH `<ContentProtection>`
elements of a manifest. No key material ever passes through here, only key ids (KIDs).

Who uses it:

* playback's per-session MPD writer calls `dash_content_protection` for each encrypted
  AdaptationSet, with the systems configured by `VOD_DRM_SIGNAL` (`parse_drm_signal`; default
  none, i.e. only CENC + ClearKey) and declares `NAMESPACES` on the `<MPD>` element;
* a packager writing vendor DRM into init segments calls `pssh_box` / `widevine_pssh` /
  `playready_pssh` (a `pssh` box goes in the `moov` of the init segment, one per system);
* `services.licensing.key_exchange` (what a CPIX/SPEKE vendor plugs into) uses the system ids.

Formats, from their specifications:

* `pssh` box, ISO/IEC 23001-7 §8.1: `size type='pssh' version flags SystemID[16]
  (version 1: KID_count KID[16]*) DataSize Data`, big-endian.
* Widevine PSSH data: the `WidevinePsshData` protobuf (field 2 `key_ids` bytes repeated, field
  3 `provider` string, field 4 `content_id` bytes, field 9 `protection_scheme` uint32 fourcc),
  written by hand here so no Widevine proto is needed.
* PlayReady Object (PlayReady Header Object spec): little-endian `length u32, count u16`, then
  records `type u16 (1 = rights management header), length u16, value` where the value is a
  UTF-16LE `<WRMHEADER version="4.3.0.0">` whose `KID VALUE` is the base64 of the KID in GUID
  byte order (first three fields little-endian).
* DASH-IF IOP / DASH-IF ClearKey guidelines for the `<ContentProtection>` elements
  (`urn:mpeg:dash:mp4protection:2011` with `cenc:default_KID`, ClearKey's `dashif:laurl` and the
  older `clearkey:Laurl`, `cenc:pssh` per vendor system, `mspr:pro` for PlayReady).
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = [
    "CLEARKEY",
    "COMMON",
    "FAIRPLAY",
    "NAMESPACES",
    "PLAYREADY",
    "SYSTEMS",
    "VENDOR_SYSTEMS",
    "WIDEVINE",
    "DrmSystem",
    "common_pssh",
    "dash_content_protection",
    "fairplay_hls_key",
    "kid_bytes",
    "kid_uuid",
    "parse_drm_signal",
    "playready_object",
    "playready_pssh",
    "pssh_box",
    "widevine_pssh",
    "widevine_pssh_data",
]


@dataclass(frozen=True)
class DrmSystem:
    """A protection system: its name in configuration, DASH-IF system id and scheme value."""

    name: str
    system_id: str
    """Lower-case UUID, as in `urn:uuid:<system_id>`."""
    dash_value: str
    """The `value` attribute of its `<ContentProtection>`."""

    @property
    def scheme_id_uri(self) -> str:
        return f"urn:uuid:{self.system_id}"

    @property
    def id_bytes(self) -> bytes:
        return uuid.UUID(self.system_id).bytes


CLEARKEY = DrmSystem("clearkey", "e2719d58-a985-b3c9-781a-b030af78d30e", "ClearKey1.0")
COMMON = DrmSystem("common", "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b", "cenc")
"""W3C "Common PSSH box format": KIDs only, what EME ClearKey reads from init data."""
WIDEVINE = DrmSystem("widevine", "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", "Widevine")
PLAYREADY = DrmSystem("playready", "9a04f079-9840-4286-ab92-e65be0885f95", "MSPR 2.0")
FAIRPLAY = DrmSystem("fairplay", "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "FairPlay")

SYSTEMS: Mapping[str, DrmSystem] = {
    s.name: s for s in (CLEARKEY, COMMON, WIDEVINE, PLAYREADY, FAIRPLAY)
}
VENDOR_SYSTEMS: Mapping[str, DrmSystem] = {s.name: s for s in (WIDEVINE, PLAYREADY, FAIRPLAY)}
"""Systems that need a vendor agreement; signalled only when configured (`VOD_DRM_SIGNAL`)."""

NAMESPACES: Mapping[str, str] = {
    "cenc": "urn:mpeg:cenc:2013",
    "dashif": "https://dashif.org/CPS",
    "clearkey": "http://dashif.org/guidelines/clearKey",
    "mspr": "urn:microsoft:playready",
}
"""Prefix -> namespace the elements of `dash_content_protection` use; declare them on `<MPD>`."""

_MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
_CENC_FOURCC = int.from_bytes(b"cenc", "big")


def parse_drm_signal(raw: str) -> tuple[DrmSystem, ...]:
    """`VOD_DRM_SIGNAL` ("widevine,playready"; empty = none) -> the vendor systems to signal.
    Raises ValueError naming an unknown system."""
    systems: list[DrmSystem] = []
    for item in raw.split(","):
        name = item.strip().lower()
        if not name or name == "none":
            continue
        system = VENDOR_SYSTEMS.get(name)
        if system is None:
            allowed = ", ".join(VENDOR_SYSTEMS)
            raise ValueError(f"VOD_DRM_SIGNAL: unknown DRM system {name!r}; known: {allowed}")
        if system not in systems:
            systems.append(system)
    return tuple(systems)


def kid_bytes(kid: str | bytes) -> bytes:
    """A KID as 16 bytes, from bytes, 32 hex digits or a UUID string."""
    if isinstance(kid, bytes | bytearray):
        if len(kid) != 16:
            raise ValueError(f"a KID is 16 bytes, got {len(kid)}")
        return bytes(kid)
    return uuid.UUID(hex=kid.replace("-", "")).bytes


def kid_uuid(kid: str | bytes) -> str:
    """A KID in the dashed UUID form of `cenc:default_KID` (big-endian, lower case)."""
    return str(uuid.UUID(bytes=kid_bytes(kid)))


def pssh_box(
    system_id: str | bytes,
    key_ids: Sequence[str | bytes] = (),
    data: bytes = b"",
    *,
    version: int = 1,
) -> bytes:
    """A complete `pssh` box (ISO/IEC 23001-7). Version 1 lists `key_ids`; version 0 has no
    KID list (some older Widevine devices only read version 0)."""
    if version not in (0, 1):
        raise ValueError("pssh version must be 0 or 1")
    system = system_id if isinstance(system_id, bytes) else uuid.UUID(system_id).bytes
    if len(system) != 16:
        raise ValueError("a system id is 16 bytes")
    body = bytes([version, 0, 0, 0]) + system
    if version == 1:
        kids = [kid_bytes(k) for k in key_ids]
        body += struct.pack(">I", len(kids)) + b"".join(kids)
    body += struct.pack(">I", len(data)) + data
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def common_pssh(key_ids: Sequence[str | bytes]) -> bytes:
    """The W3C common-format `pssh` (system 1077efec-…): version 1, KIDs, no data."""
    return pssh_box(COMMON.system_id, key_ids)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(payload)) + payload


def widevine_pssh_data(
    key_ids: Sequence[str | bytes],
    content_id: bytes = b"",
    *,
    provider: str = "",
    protection_scheme: str = "cenc",
) -> bytes:
    """The `WidevinePsshData` protobuf: key_ids (2), provider (3), content_id (4),
    protection_scheme (9, the fourcc as a big-endian uint32)."""
    out = b"".join(_length_delimited(2, kid_bytes(k)) for k in key_ids)
    if provider:
        out += _length_delimited(3, provider.encode())
    if content_id:
        out += _length_delimited(4, content_id)
    if protection_scheme:
        fourcc = protection_scheme.encode("ascii")
        if len(fourcc) != 4:
            raise ValueError("protection_scheme is a fourcc such as 'cenc' or 'cbcs'")
        out += _varint(9 << 3 | 0) + _varint(int.from_bytes(fourcc, "big"))
    return out


def widevine_pssh(
    key_ids: Sequence[str | bytes],
    content_id: bytes = b"",
    *,
    provider: str = "",
    version: int = 1,
) -> bytes:
    """A Widevine `pssh` box carrying `WidevinePsshData` for `key_ids`."""
    data = widevine_pssh_data(key_ids, content_id, provider=provider)
    return pssh_box(WIDEVINE.system_id, key_ids if version == 1 else (), data, version=version)


def _guid_order(kid: bytes) -> bytes:
    return kid[3::-1] + kid[5:3:-1] + kid[7:5:-1] + kid[8:]


def playready_object(kid: str | bytes, la_url: str = "", *, algorithm: str = "AESCTR") -> bytes:
    """A PlayReady Object with one rights-management record: a WRMHEADER 4.3.0.0 (UTF-16LE)
    naming `kid` (base64, GUID byte order) and, if given, the licence acquisition URL."""
    if algorithm not in ("AESCTR", "AESCBC"):
        raise ValueError("PlayReady ALGID is AESCTR (cenc) or AESCBC (cbcs)")
    value = base64.b64encode(_guid_order(kid_bytes(kid))).decode("ascii")
    la = f"<LA_URL>{escape(la_url)}</LA_URL>" if la_url else ""
    xml = (
        '<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" '
        'version="4.3.0.0"><DATA><PROTECTINFO><KIDS>'
        f'<KID ALGID="{algorithm}" VALUE="{value}"></KID>'
        f"</KIDS></PROTECTINFO>{la}</DATA></WRMHEADER>"
    )
    header = xml.encode("utf-16-le")
    record = struct.pack("<HH", 1, len(header)) + header
    return struct.pack("<IH", 6 + len(record), 1) + record


def playready_pssh(kid: str | bytes, la_url: str = "", *, version: int = 1) -> bytes:
    """A PlayReady `pssh` box whose data is the PlayReady Object of `playready_object`."""
    data = playready_object(kid, la_url)
    return pssh_box(PLAYREADY.system_id, [kid] if version == 1 else (), data, version=version)


def fairplay_hls_key(key_uri: str) -> str:
    """The `#EXT-X-KEY` line of FairPlay Streaming (SAMPLE-AES, cbcs) for an `skd://` URI the
    vendor's key server understands; FairPlay has no `pssh` and no DASH signalling."""
    if not key_uri.startswith("skd://") or any(c in key_uri for c in '"\r\n,'):
        raise ValueError("a FairPlay key URI is skd://... without quotes, commas or newlines")
    return (
        f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key_uri}",'
        'KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"'
    )


def dash_content_protection(
    systems: Iterable[DrmSystem | str],
    default_kid: str | bytes,
    la_url: str,
    *,
    key_ids: Sequence[str | bytes] = (),
    vendor_la_urls: Mapping[str, str] | None = None,
) -> list[str]:
    """The `<ContentProtection>` elements of one encrypted AdaptationSet, in order: CENC
    (`mp4protection`, `cenc:default_KID`), ClearKey (licence URL `la_url`, which for a session
    already carries its token), then one per configured vendor system in `systems` with its
    `cenc:pssh` (base64 of the whole box) for `key_ids` (default: the default KID). FairPlay is
    HLS-only and is skipped here. `vendor_la_urls` (system name -> URL) goes into PlayReady's
    header. Needs the prefixes of `NAMESPACES` declared on the MPD."""
    kids = list(key_ids) or [default_kid]
    urls = vendor_la_urls or {}
    default = kid_uuid(default_kid)
    elements = [
        f'<ContentProtection schemeIdUri="{_MP4PROTECTION}" value="cenc" '
        f'cenc:default_KID="{default}"/>',
    ]
    url = escape(la_url, {'"': "&quot;"})
    elements.append(
        f'<ContentProtection schemeIdUri="{CLEARKEY.scheme_id_uri}" value="{CLEARKEY.dash_value}">'
        f'<dashif:laurl>{url}</dashif:laurl><clearkey:Laurl Lic_type="EME-1.0">{url}'
        f"</clearkey:Laurl><cenc:pssh>{_b64(common_pssh(kids))}</cenc:pssh></ContentProtection>"
    )
    for item in systems:
        system = item if isinstance(item, DrmSystem) else SYSTEMS[item.strip().lower()]
        if system is WIDEVINE:
            pssh = _b64(widevine_pssh(kids))
            elements.append(
                f'<ContentProtection schemeIdUri="{system.scheme_id_uri}" '
                f'value="{system.dash_value}"><cenc:pssh>{pssh}</cenc:pssh></ContentProtection>'
            )
        elif system is PLAYREADY:
            pro = playready_object(default_kid, urls.get(PLAYREADY.name, ""))
            pssh = _b64(playready_pssh(default_kid, urls.get(PLAYREADY.name, "")))
            elements.append(
                f'<ContentProtection schemeIdUri="{system.scheme_id_uri}" '
                f'value="{system.dash_value}"><cenc:pssh>{pssh}</cenc:pssh>'
                f"<mspr:pro>{_b64(pro)}</mspr:pro></ContentProtection>"
            )
    return elements


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
