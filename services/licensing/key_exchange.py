"""The key exchange: where content keys come from and how each DRM system is signalled.

`KeyExchange` is the seam a commercial DRM vendor plugs into; `ClearKeyExchange` is the
implementation in use (keys generated here with a CSPRNG, delivered by our own ClearKey licence
and HLS AES-128 key endpoints).

Plugging in a CPIX / SPEKE v2 vendor (Widevine, PlayReady, FairPlay)
--------------------------------------------------------------------
Those systems need a vendor's licence servers, and the vendor's key server must know every
content key. With SPEKE v2 (AWS's profile of DASH-IF CPIX 2.3) the exchange is one HTTPS POST
per media asset, made by an adapter class implementing `KeyExchange`:

1. **Request** (`content_keys(media, tracks)`): a CPIX document with `contentId="media/<id>"`,
   one `<cpix:ContentKey kid="<uuid>" commonEncryptionScheme="cenc|cbcs"/>` per track class
   (`ContentKeyUsageRule intendedTrackType="SD|HD|UHD1|AUDIO"` with a `VideoFilter` on the
   heights of `policy.min_height_of`, so the vendor enforces the same per-class rule we do),
   and a `<cpix:DRMSystem kid=… systemId=…>` per system wanted (ids in
   `services.runtime.drm`). KIDs may be ours (random, as `ClearKeyExchange` makes them) or left
   to the vendor.
2. **Who generates the keys**: in SPEKE the vendor's key server generates them and returns them
   in `<pskc:Secret>` (plain, or encrypted to our document key when CPIX document-key
   encryption is on: the adapter decrypts it). Alternatively the adapter generates the keys
   here and *ingests* them into the vendor (CPIX with `<pskc:PlainValue>` set). Either way the
   adapter returns `ContentKeyInfo` with the key bytes, and licensing stores them
   envelope-encrypted exactly like ClearKey keys, so ClearKey/HLS AES-128 keep working as the
   fallback for browsers without the vendor CDM.
3. **What goes back to the packager**: unchanged - `GetContentKeys` gives KID, key and IV per
   track class. For each vendor system the adapter's `drm_systems(key)` returns a `DrmSignal`
   with the `pssh` box the packager writes into the init segment's `moov` (the vendor's
   `<cpix:PSSH>` when it sends one, else built with `services.runtime.drm`), and the DASH
   `<ContentProtection>` / HLS `#EXT-X-KEY` the manifests carry (playback writes those from
   `VOD_DRM_SIGNAL` with `drm.dash_content_protection`).
4. **Which PSSH each system needs**: Widevine - a version 0 or 1 `pssh` with
   `WidevinePsshData` (`drm.widevine_pssh`); PlayReady - a `pssh` whose data is a PlayReady
   Object with a WRMHEADER 4.3 naming the KID in GUID byte order and the vendor's LA_URL
   (`drm.playready_pssh`, also as `<mspr:pro>` in the MPD); FairPlay - no `pssh` and no DASH:
   HLS `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://…",KEYFORMAT="com.apple.streamingkeydelivery"`
   (`drm.fairplay_hls_key`) and `cbcs` segments; ClearKey - the W3C common `pssh` (version 1,
   KIDs only, `drm.common_pssh`).
5. **Licences** for vendor systems are then issued by the vendor's licence servers (which call
   back to verify the session with a vendor-specific token: add a `LicensePolicy`-to-vendor
   rights mapping in the adapter); our audit still records the key delivery we make.

Wire an adapter by passing it as `exchange=` to `LicensingDomain` (`server.running(...,
exchange=...)`); nothing else changes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vod.licensing.v1 import licensing_pb2 as pb

from services.runtime import drm

__all__ = ["ClearKeyExchange", "ContentKeyInfo", "DrmSignal", "KeyExchange"]


@dataclass(frozen=True)
class ContentKeyInfo:
    """A content key as the exchange produced it; `key`/`iv` never reach a log (no repr)."""

    key_id: str
    """32 lower-case hex digits."""
    media_asset: str
    track_type: int
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)


@dataclass(frozen=True)
class DrmSignal:
    """How one DRM system is signalled for a key: the `pssh` box for the init segment and the
    licence URL (empty when the player is told elsewhere, e.g. the session's licence URL)."""

    system: drm.DrmSystem
    pssh: bytes
    license_url: str = ""


class KeyExchange(Protocol):
    """Where keys come from (a CPIX/SPEKE adapter implements this for a DRM vendor)."""

    async def content_keys(
        self, media_asset: str, track_types: Sequence[int]
    ) -> list[ContentKeyInfo]:
        """One new key per track type for `media_asset`."""
        ...

    def drm_systems(self, key: ContentKeyInfo) -> list[DrmSignal]:
        """The systems `key` is signalled for, with their `pssh` boxes."""
        ...


class ClearKeyExchange:
    """Keys generated here (CSPRNG: `secrets.token_bytes`), delivered by licensing itself:
    W3C ClearKey for CENC (DASH) and AES-128 key delivery for HLS."""

    async def content_keys(
        self, media_asset: str, track_types: Sequence[int]
    ) -> list[ContentKeyInfo]:
        return [
            ContentKeyInfo(
                key_id=secrets.token_bytes(16).hex(),
                media_asset=media_asset,
                track_type=track_type or pb.TRACK_TYPE_ALL,
                key=secrets.token_bytes(16),
                iv=secrets.token_bytes(16),
            )
            for track_type in track_types
        ]

    def drm_systems(self, key: ContentKeyInfo) -> list[DrmSignal]:
        return [DrmSignal(drm.COMMON, drm.common_pssh([key.key_id]))]
