"""Envelope encryption of content keys at rest (AES-256-GCM, `cryptography`).

Per record a fresh random 256-bit *data key* encrypts the content key and its IV (`sealed`,
AAD = key id + media asset, so a sealed blob moved to another row does not open). The data key
is encrypted (*wrapped*) by a *master key* (`wrapped`, AAD = master key id + key id), whose id is
stored with the record. Master keys come from configuration only (`VOD_LICENSING_MASTER_KEYS`,
`id:base64url-32-bytes` entries, the first is current), never from the database.

Rotating the master key re-wraps the data keys only: the sealed content keys (and so every
packaged segment) stay as they are, and once no record names an old master key it can be
removed from the configuration.

Nothing in this module logs, and its errors never carry key material.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "EnvelopeError",
    "MasterKey",
    "MasterKeyRing",
    "Sealed",
    "ensure_master_keys_file",
    "format_master_keys",
    "new_master_key",
    "open_content_key",
    "parse_master_keys",
    "rewrap",
    "seal_content_key",
    "write_private",
]

_NONCE = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class EnvelopeError(Exception):
    """A record that does not decrypt (tampered, or under a master key not configured). The
    message names the record and the cause, never a key."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.id):
            raise ValueError("a master key id is 1-64 of [A-Za-z0-9_.-]")
        if len(self.key) != 32:
            raise ValueError(f"master key {self.id!r} must be 32 bytes")


@dataclass(frozen=True)
class MasterKeyRing:
    """The configured master keys; `current` wraps new records, the others only unwrap."""

    keys: tuple[MasterKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one master key is needed")
        ids = [k.id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("master key ids must be unique")

    @property
    def current(self) -> MasterKey:
        return self.keys[0]

    def get(self, key_id: str) -> MasterKey | None:
        return next((k for k in self.keys if k.id == key_id), None)

    def __repr__(self) -> str:
        return f"MasterKeyRing(ids={[k.id for k in self.keys]!r})"


@dataclass(frozen=True)
class Sealed:
    """What is stored for one content key."""

    master_key_id: str
    wrapped_data_key: bytes = field(repr=False)
    sealed_key: bytes = field(repr=False)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_master_keys(raw: str) -> MasterKeyRing:
    """`"k2:<base64url>,k1:<base64url>"` -> a ring whose current key is `k2`. Errors name the
    entry's position and id, never its key."""
    keys: list[MasterKey] = []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep:
            raise ValueError(f"VOD_LICENSING_MASTER_KEYS entry {position}: expected id:base64url")
        try:
            material = _b64url_decode(encoded.strip())
        except (binascii.Error, ValueError):
            raise ValueError(
                f"VOD_LICENSING_MASTER_KEYS entry {position} ({key_id.strip()!r}): not base64url"
            ) from None
        keys.append(MasterKey(key_id.strip(), material))
    if not keys:
        raise ValueError("VOD_LICENSING_MASTER_KEYS holds no key")
    return MasterKeyRing(tuple(keys))


def format_master_keys(ring: MasterKeyRing) -> str:
    """The configuration text of `ring` (inverse of `parse_master_keys`)."""
    return ",".join(
        f"{k.id}:{base64.urlsafe_b64encode(k.key).rstrip(b'=').decode()}" for k in ring.keys
    )


def new_master_key(key_id: str | None = None) -> MasterKey:
    """A fresh random master key (id `mk-<8 hex>` unless given)."""
    return MasterKey(key_id or f"mk-{secrets.token_hex(4)}", secrets.token_bytes(32))


def ensure_master_keys_file(path: Path) -> str:
    """The master keys configured in `path`, creating it with one fresh key if missing (the
    directory 0700, the file 0600). For the launcher: its result is `VOD_LICENSING_MASTER_KEYS`."""
    if path.is_file():
        text = path.read_text().strip()
        if text:
            parse_master_keys(text)
            return text
    path.parent.mkdir(parents=True, exist_ok=True)
    text = format_master_keys(MasterKeyRing((new_master_key(),)))
    write_private(path, text)
    return text


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    tmp.replace(path)


def _content_aad(key_id: str, media_asset: str) -> bytes:
    return f"vod.licensing.content-key\x00{key_id}\x00{media_asset}".encode()


def _wrap_aad(master_key_id: str, key_id: str) -> bytes:
    return f"vod.licensing.data-key\x00{master_key_id}\x00{key_id}".encode()


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)


def _wrap(master: MasterKey, data_key: bytes, key_id: str) -> bytes:
    return _encrypt(master.key, data_key, _wrap_aad(master.id, key_id))


def _unwrap(ring: MasterKeyRing, sealed: Sealed, key_id: str) -> bytes:
    master = ring.get(sealed.master_key_id)
    if master is None:
        raise EnvelopeError(
            f"content key {key_id} is wrapped by master key {sealed.master_key_id!r}, "
            "which is not configured"
        )
    try:
        return _decrypt(master.key, sealed.wrapped_data_key, _wrap_aad(master.id, key_id))
    except (InvalidTag, ValueError):
        raise EnvelopeError(f"the data key of content key {key_id} does not decrypt") from None


def seal_content_key(
    ring: MasterKeyRing, key_id: str, media_asset: str, key: bytes, iv: bytes
) -> Sealed:
    """Encrypt `key` + `iv` under a fresh data key wrapped by the current master key."""
    if len(key) != 16 or len(iv) != 16:
        raise ValueError("content keys and IVs are 16 bytes")
    data_key = AESGCM.generate_key(bit_length=256)
    return Sealed(
        master_key_id=ring.current.id,
        wrapped_data_key=_wrap(ring.current, data_key, key_id),
        sealed_key=_encrypt(data_key, key + iv, _content_aad(key_id, media_asset)),
    )


def open_content_key(
    ring: MasterKeyRing, key_id: str, media_asset: str, sealed: Sealed
) -> tuple[bytes, bytes]:
    """(key, iv) of a stored record; EnvelopeError if anything was altered."""
    data_key = _unwrap(ring, sealed, key_id)
    try:
        plain = _decrypt(data_key, sealed.sealed_key, _content_aad(key_id, media_asset))
    except (InvalidTag, ValueError):
        raise EnvelopeError(f"content key {key_id} does not decrypt") from None
    if len(plain) != 32:
        raise EnvelopeError(f"content key {key_id} has an unexpected length")
    return plain[:16], plain[16:]


def rewrap(ring: MasterKeyRing, key_id: str, sealed: Sealed) -> Sealed:
    """The same record with its data key wrapped by the ring's current master key; the sealed
    content key is untouched."""
    if sealed.master_key_id == ring.current.id:
        return sealed
    data_key = _unwrap(ring, sealed, key_id)
    return Sealed(ring.current.id, _wrap(ring.current, data_key, key_id), sealed.sealed_key)
