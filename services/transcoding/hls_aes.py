"""HLS key delivery for encrypted titles: an AES-128 copy of the clear CMAF segments.

An encrypted title is packaged once, never per viewer, into two sets of segments per track:

* `renditions/<media>/<track>/` — CENC (`cenc`, AES-CTR, `tenc`/`senc`/`saiz`/`saio`), for DASH
  with ClearKey (and any CENC DRM);
* `renditions/<media>/<track>-aes/` — the *clear* CMAF init and media segments, each file
  encrypted whole with AES-128-CBC and PKCS#7 padding (RFC 8216 §5.2 `METHOD=AES-128`), for HLS.
  Same file names (`init.mp4`, `seg-00001.m4s`, ...), same segment boundaries, same key (the
  track class's content key) and the content key's IV for every file.

The origin's media playlist of such a track is `manifests/<media>/<track>-aes.m3u8` with
`#EXT-X-KEY:METHOD=AES-128,URI="key://<kid>",IV=0x<iv>` *before* `#EXT-X-MAP`, so the key also
applies to the init segment (RFC 8216 §4.3.2.4/§4.3.2.5: an EXT-X-KEY that precedes an EXT-X-MAP
applies to the Media Initialization Section; the IV attribute is then required, and it is always
written). `key://<kid>` is a placeholder, not a URL anyone can fetch: playback rewrites it per
session into licensing's `/v1/hlsKeys/<kid>?session_token=...`. The master playlist of an
encrypted title lists only the `-aes` playlists; no HLS playlist ever points at the CENC
segments.

Why AES-128 and not SAMPLE-AES over the CENC segments
------------------------------------------------------
One set of segments could in principle serve both HLS and DASH: SAMPLE-AES (for fMP4, Apple
defines it as CENC `cbcs`) or the non-standard SAMPLE-AES-CTR (`cenc`) over the very segments DASH
uses. What the players accept decided it:

* ffmpeg (imageio-ffmpeg's n9.0.2, checked here): decrypts `METHOD=AES-128` (whole-segment CBC,
  the init segment included), and it also plays `METHOD=SAMPLE-AES` or `SAMPLE-AES-CTR` over our
  `cenc` segments, because its HLS demuxer hands the key to its mp4 demuxer, which decrypts any
  CENC scheme. So ffmpeg alone would accept either. But that is ffmpeg being lenient: a `cenc`
  segment under `METHOD=SAMPLE-AES` is not what RFC 8216/Apple's spec describe (`cbcs`).
* Safari's native HLS plays SAMPLE-AES fMP4 only as FairPlay (`skd://`, `cbcs`), which we do not
  deliver; it plays `METHOD=AES-128` with a plain key URI.
* hls.js decrypts AES-128 in software everywhere, and SAMPLE-AES without EME only in MPEG-TS;
  fMP4 SAMPLE-AES needs an EME key system, i.e. a licence exchange, not the 16 raw key bytes our
  HLS key endpoint (`/v1/hlsKeys/<kid>`) returns. Shaka plays AES-128 too.
* ffmpeg's mp4 muxer, our CENC writer, only writes `cenc` (not `cbcs` pattern encryption), so
  conformant SAMPLE-AES fMP4 would need another packager anyway.

AES-128 is the one method every HLS player we care about accepts with a raw key, so the HLS
variant is AES-128 over a copy of the clear CMAF segments. The price is a second copy of the
segments (plus at most 16 bytes of PKCS#7 padding per file); encrypting is cheap (AES-NI through
`cryptography`; see the packaging timings of the tests). An AES-128 key reaches the player as
plain bytes over HTTPS, exactly like a ClearKey licence for DASH, so neither path is weaker. One
key per track class serves both copies (CTR over CENC samples, CBC over whole files). With the
key's fixed IV, files whose leading 16-byte blocks are identical get identical leading ciphertext
blocks: that only tells which files begin with the same box header (every init begins with the same
`ftyp`), format structure an attacker knows anyway, never media content; chaining makes every
later block depend on all before it.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["AES_SUFFIX", "KEY_URI_SCHEME", "encrypt_bytes", "encryptor", "key_uri"]

AES_SUFFIX = "-aes"
"""Track (folder) and playlist suffix of a track's AES-128 copy: `720p-h264-aes`."""
KEY_URI_SCHEME = "key://"
"""The placeholder key URI scheme of the origin's playlists; playback replaces it per session."""


def key_uri(key_id: str) -> str:
    return f"{KEY_URI_SCHEME}{key_id}"


def encrypt_bytes(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-128-CBC with PKCS#7 padding (RFC 8216 §5.2): 1-16 bytes of padding, each the count."""
    whole = len(data) - len(data) % 16
    pad = 16 - len(data) % 16
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return (
        cipher.update(memoryview(data)[:whole])
        + cipher.update(data[whole:] + bytes([pad]) * pad)
        + cipher.finalize()
    )


def encryptor(key: bytes, iv: bytes) -> Callable[[bytes], bytes]:
    """`encrypt_bytes` with this key and IV (a `cmaf.split` transform)."""
    return lambda data: encrypt_bytes(data, key, iv)
