"""The encryption hook: the packager asks a `KeyProvider` for a content key per media asset and
writes CENC (cenc-aes-ctr) segments with it. The licensing service supplies the production
provider (keys envelope-encrypted at rest, `CreateContentKey`); `DerivedKeyProvider` is the
development stand-in (keys derived from a secret with HMAC, so a re-run gets the same key)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ContentKey", "DerivedKeyProvider", "KeyProvider"]


@dataclass(frozen=True)
class ContentKey:
    key_id: str  # 32 lower-case hex digits
    key: str  # 32 lower-case hex digits (AES-128)
    license_url: str = ""


class KeyProvider(Protocol):
    async def content_key(self, media: str, track: str) -> ContentKey:
        """The key for one track of a media asset ("media/{media}"), created on first use."""
        ...


class DerivedKeyProvider:
    """Deterministic keys from a secret: for development and tests only."""

    def __init__(self, secret: bytes, license_url: str = "") -> None:
        self._secret = secret
        self._license_url = license_url

    async def content_key(self, media: str, track: str) -> ContentKey:
        digest = hmac.new(self._secret, f"{media}".encode(), hashlib.sha256).hexdigest()
        return ContentKey(digest[:32], digest[32:], self._license_url)
