"""The one page-token codec of every List/Search RPC: opaque to clients, signed by the service.

A token is `<body>.<mac>`, both base64url without padding:

* `body` is compact JSON `{"f": <request fingerprint>, "p": <payload>, "e": <expiry>?}`. The
  payload is the service's position (a cursor, an offset, a snapshot); the fingerprint is a
  hash of the request with `page_token` and `page_size` cleared (plus an optional `bind`
  string, for domains that receive fields rather than the request), so the next page must be
  asked with the same filters; `e` (Unix seconds) is present only when the token expires.
* `mac` is HMAC-SHA256, truncated to 128 bits, under the deployment's secret over a version
  tag, the *scope* (`<full service name>/<method>`) and the body text. A token is thus only
  accepted by the list that issued it, and no one without the secret can make one: the
  unkeyed hashes the services used before could be recomputed by anyone, so a forged offset or
  cursor reached the storage layer.

Whatever is wrong with a token (not text, longer than `MAX_TOKEN_CHARS` — refused before any
decoding —, not base64url, a signature that does not verify, another scope, expired, issued
for other filters) raises `InvalidArgument` on field `page_token`, whose description tells the
client to start again without a page_token. Signatures are compared in constant time.

The secret is `VOD_PAGE_TOKEN_SECRET` (`services.runtime.config.load_page_token_secret`), one
value for every service and replica of a deployment. When it is unset (development, tests),
`default_page_tokens()` draws a random per-process secret and logs a warning when it issues its
first token (a process that never issues one stays quiet): tokens then
do not survive a restart of the service, nor move between replicas.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message

from services.runtime.config import load_page_token_secret
from services.runtime.errors import InvalidArgument
from services.runtime.logs import get_logger

__all__ = [
    "MAX_TOKEN_CHARS",
    "PageTokens",
    "bad_page_token",
    "default_page_tokens",
    "request_fingerprint",
]

MAX_TOKEN_CHARS = 1024
"""Longest token accepted (the contracts cap `page_token` at 1024 characters as well)."""

MIN_SECRET_BYTES = 16
_MAC_BYTES = 16  # 128 bits
_VERSION = b"vodmesh.page_token.v1"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELD = "page_token"
_RESTART = "start again without a page_token"

_log = get_logger("page_tokens")


def bad_page_token(problem: str) -> InvalidArgument:
    """INVALID_ARGUMENT on `page_token`: `problem`, then the way out."""
    return InvalidArgument.for_field(_FIELD, f"{problem}; {_RESTART}")


_NOT_OURS = "is not a page token this list issued, or it was altered"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def request_fingerprint(request: Message | None, bind: str = "") -> str:
    """Short hash of `request` without `page_token`/`page_size` (and of `bind`): what must not
    change between pages. Not secret (the client knows its request); the MAC protects it."""
    digest = hashlib.sha256()
    if request is not None:
        stripped = type(request)()
        stripped.CopyFrom(request)
        names = stripped.DESCRIPTOR.fields_by_name
        for name in ("page_token", "page_size"):
            if name in names:
                stripped.ClearField(name)
        digest.update(stripped.DESCRIPTOR.full_name.encode())
        digest.update(b"\0")
        digest.update(stripped.SerializeToString(deterministic=True))
    digest.update(b"\0")
    digest.update(bind.encode())
    return _b64(digest.digest()[:12])


class PageTokens:
    """Signs and checks page tokens under one secret (see the module docstring).

    `ttl_s` is the default lifetime of the tokens `encode` issues (None: they do not expire);
    `clock` returns Unix seconds (tests pass their own)."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.time,
        on_first_encode: Callable[[], None] | None = None,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"a page-token secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._on_first_encode = on_first_encode

    def __repr__(self) -> str:  # never the secret
        return f"PageTokens(ttl_s={self._ttl_s!r})"

    def _mac(self, scope: str, body: str) -> str:
        message = b"\n".join((_VERSION, scope.encode(), body.encode("ascii")))
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES])

    def encode(
        self,
        scope: str,
        request: Message | None,
        payload: Mapping[str, Any],
        *,
        bind: str = "",
        ttl_s: float | None = None,
    ) -> str:
        """A token carrying `payload` (JSON values) for the next page of `request` in `scope`."""
        if self._on_first_encode is not None:
            warn, self._on_first_encode = self._on_first_encode, None
            warn()
        if not scope or "\n" in scope:
            raise ValueError(f"bad page-token scope {scope!r}")
        doc: dict[str, Any] = {"f": request_fingerprint(request, bind), "p": dict(payload)}
        lifetime = self._ttl_s if ttl_s is None else ttl_s
        if lifetime is not None:
            doc["e"] = int(self._clock() + lifetime)
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        body = _b64(raw.encode())
        token = f"{body}.{self._mac(scope, body)}"
        if len(token) > MAX_TOKEN_CHARS:
            # The next request will be refused as too long; say so where operators look.
            _log.warning("page_tokens.too_long", scope=scope, length=len(token))
        return token

    def decode(
        self, token: str, scope: str, request: Message | None, *, bind: str = ""
    ) -> dict[str, Any]:
        """The payload of a genuine, unexpired token that `scope` issued for this request;
        `InvalidArgument` on `page_token` otherwise."""
        if not isinstance(token, str) or not token:
            raise bad_page_token(_NOT_OURS)
        if len(token) > MAX_TOKEN_CHARS:
            raise bad_page_token(f"is longer than {MAX_TOKEN_CHARS} characters")
        body, dot, mac = token.partition(".")
        if not dot or not _B64URL.match(body) or not _B64URL.match(mac):
            raise bad_page_token(_NOT_OURS)
        # Compare the canonical text of the expected MAC: equal text, equal bytes, no
        # alternative spellings of the same signature.
        if not hmac.compare_digest(self._mac(scope, body), mac):
            raise bad_page_token(_NOT_OURS)
        try:
            doc = json.loads(_unb64(body))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise bad_page_token(_NOT_OURS) from None
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("f"), str)
            or not isinstance(doc.get("p"), dict)
        ):
            raise bad_page_token(_NOT_OURS)
        expires = doc.get("e")
        if expires is not None:
            if not isinstance(expires, int) or isinstance(expires, bool):
                raise bad_page_token(_NOT_OURS)
            if expires < self._clock():
                raise bad_page_token("has expired")
        if not hmac.compare_digest(doc["f"], request_fingerprint(request, bind)):
            raise bad_page_token(
                "was issued for a different request (keep every other field unchanged "
                "between pages)"
            )
        payload: dict[str, Any] = doc["p"]
        return payload


def _warn_ephemeral() -> None:
    _log.warning(
        "page_tokens.ephemeral_secret",
        detail=(
            "VOD_PAGE_TOKEN_SECRET is not set: page tokens are signed with a per-process random "
            "key and stop working when this process restarts or when another replica answers; "
            "set it in every deployment"
        ),
    )


_process: PageTokens | None = None
_process_lock = threading.Lock()


def default_page_tokens() -> PageTokens:
    """The process's codec: keyed with `VOD_PAGE_TOKEN_SECRET`, or, when that is unset, with a
    random secret drawn once per process (a warning is logged once; tokens then do not survive
    a restart). Domains take a `PageTokens` argument defaulting to this one."""
    global _process
    with _process_lock:
        if _process is None:
            secret = load_page_token_secret()
            if secret is None:  # warned when the first token is issued, not before
                _process = PageTokens(secrets.token_bytes(32), on_first_encode=_warn_ephemeral)
            else:
                _process = PageTokens(secret)
        return _process
