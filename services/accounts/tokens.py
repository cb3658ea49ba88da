"""Signing keys, signed access tokens (ES256 JWTs), the JWKS document, and opaque refresh tokens.

Access tokens are verified by Envoy's `jwt_authn` at the front door with the same rules as
`verify_access_token`: ES256 only, a known `kid`, issuer, audience, expiry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER

__all__ = [
    "ALGORITHM",
    "InvalidToken",
    "SigningKey",
    "jwks_document",
    "new_refresh_token",
    "new_signing_key",
    "public_jwk",
    "refresh_token_hash",
    "sign_access_token",
    "verify_access_token",
]

ALGORITHM = "ES256"
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]


class InvalidToken(ValueError):
    """An access token that must not be trusted; the message says why (safe to show)."""


@dataclass(frozen=True)
class SigningKey:
    """One P-256 signing key. It signs from `activate_time` (it is published in the JWKS before
    that) until it is retired; it stays published until the tokens it signed have expired."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    create_time: datetime
    activate_time: datetime
    retire_time: datetime | None = None

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @classmethod
    def from_pem(
        cls,
        kid: str,
        pem: str,
        create_time: datetime,
        activate_time: datetime,
        retire_time: datetime | None,
    ) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"signing key {kid} is not an EC key")
        return cls(kid, key, create_time, activate_time, retire_time)

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r}, activate_time={self.activate_time.isoformat()})"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _coordinates(public: ec.EllipticCurvePublicKey) -> tuple[str, str]:
    numbers = public.public_numbers()
    return _b64(numbers.x.to_bytes(32, "big")), _b64(numbers.y.to_bytes(32, "big"))


def new_signing_key(create_time: datetime, activate_time: datetime) -> SigningKey:
    """A fresh P-256 key; its kid is the RFC 7638 thumbprint of the public key."""
    private = ec.generate_private_key(ec.SECP256R1())
    x, y = _coordinates(private.public_key())
    canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
    kid = _b64(hashlib.sha256(canonical.encode()).digest())
    return SigningKey(kid, private, create_time, activate_time)


def public_jwk(key: SigningKey) -> dict[str, str]:
    x, y = _coordinates(key.private_key.public_key())
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": x,
        "y": y,
        "kid": key.kid,
        "use": "sig",
        "alg": ALGORITHM,
    }


def jwks_document(keys: Iterable[SigningKey]) -> dict[str, list[dict[str, str]]]:
    """The RFC 7517 JSON Web Key Set of `keys` (public halves only)."""
    return {"keys": [public_jwk(k) for k in keys]}


def sign_access_token(key: SigningKey, claims: Mapping[str, Any]) -> str:
    return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify_access_token(
    token: str,
    jwks: Mapping[str, Any] | str,
    *,
    issuer: str = TOKEN_ISSUER,
    audience: str = TOKEN_AUDIENCE,
    leeway_s: float = 0.0,
) -> dict[str, Any]:
    """The claims of `token` after the checks the front door makes (ES256 only, a `kid` found in
    `jwks`, signature, `iss`, `aud`, `exp`, `nbf`); raises InvalidToken otherwise."""
    document = json.loads(jwks) if isinstance(jwks, str) else jwks
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("not a JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted; only {ALGORITHM}")
    kid = header.get("kid")
    jwk = next((k for k in document.get("keys", []) if k.get("kid") == kid), None)
    if not kid or jwk is None:
        raise InvalidToken("signed by a key that is not in the key set")
    try:
        public = ECAlgorithm.from_jwk(jwk)
        return jwt.decode(
            token,
            public,  # type: ignore[arg-type]
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("wrong issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("bad signature") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(f"rejected: {type(exc).__name__}") from exc


def new_refresh_token() -> str:
    """An opaque single-use refresh token (256 random bits); only its hash is stored."""
    return "vrt_" + secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
