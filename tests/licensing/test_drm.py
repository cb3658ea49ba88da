"""`services.runtime.drm`: pssh boxes, Widevine and PlayReady data and the DASH
ContentProtection elements, checked by parsing them back by hand (ISO/IEC 23001-7, the
WidevinePsshData protobuf, the PlayReady Object layout)."""

from __future__ import annotations

import base64
import struct
import uuid
import xml.etree.ElementTree as ET

import pytest
from google.protobuf.internal import decoder

from services.runtime import drm

KIDS = [bytes(range(16)), bytes(range(16, 32))]


def parse_pssh(box: bytes) -> dict[str, object]:
    size, kind = struct.unpack(">I4s", box[:8])
    version, flags = box[8], box[9:12]
    system = uuid.UUID(bytes=box[12:28])
    offset = 28
    kids = []
    if version == 1:
        (count,) = struct.unpack(">I", box[offset : offset + 4])
        offset += 4
        for _ in range(count):
            kids.append(box[offset : offset + 16])
            offset += 16
    (data_size,) = struct.unpack(">I", box[offset : offset + 4])
    data = box[offset + 4 : offset + 4 + data_size]
    assert offset + 4 + data_size == len(box)
    return {
        "size": size,
        "type": kind,
        "version": version,
        "flags": flags,
        "system": str(system),
        "kids": kids,
        "data": data,
    }


def parse_fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message."""
    out = []
    pos = 0
    while pos < len(data):
        tag, pos = decoder._DecodeVarint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = decoder._DecodeVarint(data, pos)
        elif wire == 2:
            length, pos = decoder._DecodeVarint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    return out


def test_pssh_box_version_1() -> None:
    box = drm.pssh_box(drm.CLEARKEY.system_id, [k.hex() for k in KIDS], b"xyz")
    parsed = parse_pssh(box)
    assert parsed == {
        "size": len(box),
        "type": b"pssh",
        "version": 1,
        "flags": b"\0\0\0",
        "system": "e2719d58-a985-b3c9-781a-b030af78d30e",
        "kids": KIDS,
        "data": b"xyz",
    }
    assert len(box) == 8 + 4 + 16 + 4 + 32 + 4 + 3
    v0 = parse_pssh(drm.pssh_box(drm.WIDEVINE.system_id, KIDS, b"d", version=0))
    assert (v0["version"], v0["kids"], v0["data"]) == (0, [], b"d")
    common = parse_pssh(drm.common_pssh([str(uuid.UUID(bytes=KIDS[0]))]))
    assert (common["system"], common["kids"], common["data"]) == (
        "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b",
        KIDS[:1],
        b"",
    )
    with pytest.raises(ValueError):
        drm.pssh_box(drm.COMMON.system_id, [b"short"])


def test_widevine_pssh() -> None:
    parsed = parse_pssh(drm.widevine_pssh(KIDS, b"media/x", provider="vodmesh"))
    assert parsed["system"] == "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
    assert parsed["kids"] == KIDS
    fields = parse_fields(parsed["data"])  # type: ignore[arg-type]
    assert fields == [
        (2, 2, KIDS[0]),
        (2, 2, KIDS[1]),
        (3, 2, b"vodmesh"),
        (4, 2, b"media/x"),
        (9, 0, int.from_bytes(b"cenc", "big")),
    ]


def test_playready_pssh() -> None:
    kid = uuid.UUID("01020304-0506-0708-090a-0b0c0d0e0f10")
    parsed = parse_pssh(
        drm.playready_pssh(kid.bytes, "https://pr.example/rightsmanager.asmx?a=1&b=2")
    )
    assert parsed["system"] == "9a04f079-9840-4286-ab92-e65be0885f95"
    assert parsed["kids"] == [kid.bytes]
    pro: bytes = parsed["data"]  # type: ignore[assignment]
    length, count = struct.unpack("<IH", pro[:6])
    assert (length, count) == (len(pro), 1)
    record_type, record_length = struct.unpack("<HH", pro[6:10])
    assert (record_type, record_length) == (1, len(pro) - 10)
    root = ET.fromstring(pro[10:].decode("utf-16-le"))
    ns = {"pr": "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"}
    assert root.get("version") == "4.3.0.0"
    kid_element = root.find("pr:DATA/pr:PROTECTINFO/pr:KIDS/pr:KID", ns)
    assert kid_element is not None and kid_element.get("ALGID") == "AESCTR"
    # GUID byte order: the first three fields little-endian.
    assert base64.b64decode(kid_element.get("VALUE", "")) == kid.bytes_le
    la = root.find("pr:DATA/pr:LA_URL", ns)
    assert la is not None and la.text == "https://pr.example/rightsmanager.asmx?a=1&b=2"


def test_dash_content_protection() -> None:
    default = KIDS[0].hex()
    la_url = "https://gw.example/v1/licenses/clearkey?session_token=a.b&x=1"
    elements = drm.dash_content_protection(
        drm.parse_drm_signal("widevine, playready"),
        default,
        la_url,
        vendor_la_urls={"playready": "https://pr.example/"},
    )
    ns_decl = " ".join(f'xmlns:{p}="{u}"' for p, u in drm.NAMESPACES.items())
    root = ET.fromstring(f"<AdaptationSet {ns_decl}>{''.join(elements)}</AdaptationSet>")
    found = root.findall("ContentProtection")
    assert [e.get("schemeIdUri") for e in found] == [
        "urn:mpeg:dash:mp4protection:2011",
        "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e",
        "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
        "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95",
    ]
    cenc = "{urn:mpeg:cenc:2013}"
    assert found[0].get("value") == "cenc"
    assert found[0].get(f"{cenc}default_KID") == str(uuid.UUID(bytes=KIDS[0]))
    assert found[1].find("{https://dashif.org/CPS}laurl").text == la_url  # type: ignore[union-attr]
    assert found[1].find("{http://dashif.org/guidelines/clearKey}Laurl").text == la_url  # type: ignore[union-attr]
    for element, system in ((found[2], drm.WIDEVINE), (found[3], drm.PLAYREADY)):
        box = base64.b64decode(element.find(f"{cenc}pssh").text)  # type: ignore[union-attr,arg-type]
        parsed = parse_pssh(box)
        assert (parsed["system"], parsed["kids"]) == (system.system_id, KIDS[:1])
    pro = base64.b64decode(found[3].find("{urn:microsoft:playready}pro").text)  # type: ignore[union-attr,arg-type]
    assert "https://pr.example/" in pro[10:].decode("utf-16-le")
    # Without vendor systems (the default): CENC and ClearKey only.
    assert len(drm.dash_content_protection(drm.parse_drm_signal(""), default, la_url)) == 2


def test_drm_signal_configuration() -> None:
    assert drm.parse_drm_signal("") == ()
    assert drm.parse_drm_signal("none") == ()
    assert drm.parse_drm_signal("PlayReady,widevine,playready") == (drm.PLAYREADY, drm.WIDEVINE)
    with pytest.raises(ValueError, match="unknown DRM system 'primetime'"):
        drm.parse_drm_signal("widevine,primetime")
    line = drm.fairplay_hls_key("skd://kid-1")
    assert line.startswith('#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://kid-1"')
