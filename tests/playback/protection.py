"""Independent decoders for the tests of protected manifests: `pssh` boxes (ISO/IEC 23001-7
§8.1), the Widevine PSSH data's key ids and the PlayReady Object's WRMHEADER KID, written from
the specifications (not from `services.runtime.drm`), and MPD ContentProtection lookups."""

from __future__ import annotations

import base64
import re
import struct
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

DASH = "urn:mpeg:dash:schema:mpd:2011"
CENC = "urn:mpeg:cenc:2013"
DASHIF = "https://dashif.org/CPS"
CLEARKEY_NS = "http://dashif.org/guidelines/clearKey"
MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
CLEARKEY_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"
WIDEVINE_ID = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY_ID = "9a04f079-9840-4286-ab92-e65be0885f95"


@dataclass(frozen=True)
class Pssh:
    version: int
    system_id: str
    key_ids: tuple[str, ...]  # 32 hex digits each
    data: bytes


def parse_pssh(box: bytes) -> Pssh:
    size, kind = struct.unpack(">I4s", box[:8])
    assert size == len(box) and kind == b"pssh", (size, len(box), kind)
    version = box[8]
    assert box[9:12] == b"\0\0\0"
    system = str(uuid.UUID(bytes=box[12:28]))
    offset = 28
    kids: list[str] = []
    if version == 1:
        (count,) = struct.unpack(">I", box[offset : offset + 4])
        offset += 4
        for _ in range(count):
            kids.append(box[offset : offset + 16].hex())
            offset += 16
    (data_size,) = struct.unpack(">I", box[offset : offset + 4])
    data = box[offset + 4 : offset + 4 + data_size]
    assert offset + 4 + data_size == size
    return Pssh(version, system, tuple(kids), data)


def widevine_key_ids(data: bytes) -> list[str]:
    """Field 2 (key_id, length-delimited) of a WidevinePsshData protobuf."""
    kids: list[str] = []
    offset = 0
    while offset < len(data):
        tag, offset = _varint(data, offset)
        field_number, wire = tag >> 3, tag & 7
        if wire == 2:
            length, offset = _varint(data, offset)
            if field_number == 2:
                kids.append(data[offset : offset + length].hex())
            offset += length
        elif wire == 0:
            _, offset = _varint(data, offset)
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return kids


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def playready_key_ids(pro: bytes) -> list[str]:
    """KIDs (32 hex digits, big-endian) in the WRMHEADER of a PlayReady Object."""
    length, count = struct.unpack("<IH", pro[:6])
    assert length == len(pro) and count >= 1
    offset = 6
    kids: list[str] = []
    for _ in range(count):
        kind, size = struct.unpack("<HH", pro[offset : offset + 4])
        value = pro[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if kind == 1:
            xml = value.decode("utf-16-le")
            for b64 in re.findall(r'KID[^>]*VALUE="([^"]+)"', xml):
                kids.append(uuid.UUID(bytes_le=base64.b64decode(b64)).hex)
    return kids


def protections(element: ET.Element) -> dict[str, ET.Element]:
    """An element's ContentProtection children by lower-case schemeIdUri."""
    return {
        (cp.get("schemeIdUri") or "").lower(): cp
        for cp in element.findall(f"{{{DASH}}}ContentProtection")
    }


def default_kid(element: ET.Element) -> str:
    """The `cenc:default_KID` of an element's mp4protection ContentProtection, 32 hex digits."""
    cp = protections(element)[MP4PROTECTION]
    assert cp.get("value") == "cenc"
    return uuid.UUID(cp.get(f"{{{CENC}}}default_KID", "")).hex


def pssh_of(cp: ET.Element) -> Pssh:
    node = cp.find(f"{{{CENC}}}pssh")
    assert node is not None and node.text
    return parse_pssh(base64.b64decode(node.text))


def clearkey_license_urls(cp: ET.Element) -> tuple[str, str, str]:
    """(dashif:laurl, clearkey:Laurl, its Lic_type) of a ClearKey ContentProtection."""
    dashif = cp.findall(f"{{{DASHIF}}}laurl")
    legacy = cp.findall(f"{{{CLEARKEY_NS}}}Laurl")
    assert len(dashif) == 1 and len(legacy) == 1
    return dashif[0].text or "", legacy[0].text or "", legacy[0].get("Lic_type", "")
