"""The runtime's one page-token codec: signed (HMAC-SHA256, 128 bits), bound to the list that
issued it and to the request's other fields, refused cleanly whatever is wrong with it."""

from __future__ import annotations

import base64
import hashlib
import json
import string

import grpc
import pytest
from google.protobuf.message import Message
from vod.catalog.v1 import catalog_pb2 as pb

from services.runtime import page_tokens as module
from services.runtime.config import load_page_token_secret
from services.runtime.errors import InvalidArgument
from services.runtime.page_tokens import (
    MAX_TOKEN_CHARS,
    PageTokens,
    default_page_tokens,
    request_fingerprint,
)
from tests.support import details_of

SECRET = b"s" * 32
SCOPE = "vod.catalog.v1.CatalogService/ListTitles"
RESTART = "start again without a page_token"
PAYLOAD = {"k": "Amélie — 天使", "i": "amelie", "n": 40}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forgeries(
    old_style: dict[str, object],
    scope: str,
    request: Message | None,
    payload: dict[str, object],
    *,
    bind: str = "",
) -> list[str]:
    """Tokens an attacker can make without the deployment's secret, for the services' tests:
    the format every service issued before (base64 JSON, its fingerprint an unkeyed hash the
    attacker recomputes: `old_style`), today's format with the public request fingerprint and
    an unkeyed digest as signature, and a genuine-looking token under another secret."""
    doc = {"f": request_fingerprint(request, bind), "p": payload}
    body = _b64(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    return [
        _b64(json.dumps(old_style).encode()),
        base64.urlsafe_b64encode(json.dumps(old_style).encode()).decode(),  # padded
        f"{body}.{_b64(hashlib.sha256(body.encode()).digest()[:16])}",
        PageTokens(b"not the deployment's secret!").encode(scope, request, payload, bind=bind),
    ]


def assert_refused_page_token(error: grpc.aio.AioRpcError) -> None:
    """INVALID_ARGUMENT with one violation, on `page_token`, telling the client to restart."""
    details = details_of(error)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(details.violations) == ["page_token"]
    assert details.violations["page_token"].endswith(RESTART), details.violations
    assert details.reason == "INVALID_ARGUMENT"


def request(**fields: object) -> pb.ListTitlesRequest:
    base: dict[str, object] = {"genre": "drama", "order_by": "release_year desc"}
    return pb.ListTitlesRequest(**{**base, **fields})  # type: ignore[arg-type]


def refused(codec: PageTokens, token: str, scope: str = SCOPE, req: object = None) -> str:
    """The description of the `page_token` violation decoding `token` raises."""
    with pytest.raises(InvalidArgument) as caught:
        codec.decode(token, scope, request() if req is None else req)  # type: ignore[arg-type]
    violations = caught.value.violations
    assert len(violations) == 1 and violations[0].field == "page_token"
    assert violations[0].description.endswith(RESTART)
    return violations[0].description


def test_round_trip_keeps_the_payload_and_ignores_page_size_and_token() -> None:
    codec = PageTokens(SECRET)
    token = codec.encode(SCOPE, request(page_size=10), PAYLOAD)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_.")
    assert token.count(".") == 1 and "=" not in token
    # The next request carries the token and may ask for another page size.
    assert codec.decode(token, SCOPE, request(page_size=25, page_token=token)) == PAYLOAD
    # Another codec with the same secret (another replica, a restart) accepts it too.
    assert PageTokens(SECRET).decode(token, SCOPE, request()) == PAYLOAD


def test_every_altered_character_is_refused() -> None:
    """Body, separator and signature: any one character changed fails the signature."""
    codec = PageTokens(SECRET)
    token = codec.encode(SCOPE, request(), PAYLOAD)
    alphabet = string.ascii_letters + string.digits + "-_"
    for index, char in enumerate(token):
        other = next(c for c in alphabet if c != char)
        forged = token[:index] + other + token[index + 1 :]
        assert refused(codec, forged).startswith("is not a page token this list issued"), index


def test_every_truncation_and_extension_is_refused() -> None:
    codec = PageTokens(SECRET)
    token = codec.encode(SCOPE, request(), PAYLOAD)
    for end in range(1, len(token)):
        refused(codec, token[:end])
        refused(codec, token[end:])
    refused(codec, token + "A")
    refused(codec, token + "=")
    refused(codec, "A" + token)


def test_a_token_of_another_list_or_service_is_refused() -> None:
    codec = PageTokens(SECRET)
    token = codec.encode("vod.accounts.v1.AccountsService/ListDevices", request(), PAYLOAD)
    description = refused(codec, token, scope=SCOPE)
    assert description == f"is not a page token this list issued, or it was altered; {RESTART}"


def test_a_token_for_other_filters_is_refused() -> None:
    codec = PageTokens(SECRET)
    token = codec.encode(SCOPE, request(), PAYLOAD)
    for changed in (
        pb.ListTitlesRequest(genre="comedy", order_by="release_year desc"),
        pb.ListTitlesRequest(genre="drama", order_by="release_year"),
        request(available_in="FR"),
        pb.ListTitlesRequest(genre="drama", order_by="release_year desc", release_year_min=1990),
    ):
        assert refused(codec, token, req=changed) == (
            "was issued for a different request (keep every other field unchanged between "
            f"pages); {RESTART}"
        )
    # `bind` (fields a domain receives outside a request message) is bound the same way.
    bound = codec.encode(SCOPE, None, {"p": 3}, bind="media/a")
    assert codec.decode(bound, SCOPE, None, bind="media/a") == {"p": 3}
    with pytest.raises(InvalidArgument):
        codec.decode(bound, SCOPE, None, bind="media/b")


def test_oversized_tokens_are_refused_before_decoding() -> None:
    codec = PageTokens(SECRET)
    # Even a genuine signature does not make a token longer than the limit acceptable.
    genuine = codec.encode(SCOPE, request(), {"k": "x" * 2000})
    assert len(genuine) > MAX_TOKEN_CHARS
    assert refused(codec, genuine) == f"is longer than 1024 characters; {RESTART}"
    assert refused(codec, "A" * (MAX_TOKEN_CHARS + 1)).startswith("is longer than 1024")
    assert refused(codec, "é" * 100_000).startswith("is longer than 1024")
    # At the limit, it is the signature that refuses it.
    assert refused(codec, "A" * MAX_TOKEN_CHARS).startswith("is not a page token")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage!",
        "not-a-token",
        "eyJmIjogMX0",  # {"f": 1}: valid base64 JSON, unsigned
        ".",
        "..",
        "a.b",
        "a.b.c",
        "é.é",
        "eyJmIjogMX0.",
        ".AAAAAAAAAAAAAAAAAAAAAA",
        "eyJmIjogMX0=.AAAAAAAAAAAAAAAAAAAAAA",
        "\x00\x01.\x02",
        " " * 20,
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    refused(PageTokens(SECRET), garbage)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = PageTokens(b"another deployment's secret").encode(SCOPE, request(), PAYLOAD)
    refused(PageTokens(SECRET), token)


def test_a_forged_token_with_a_recomputed_fingerprint_is_refused() -> None:
    """What anyone could forge before: the payload they like, a fingerprint recomputed from their
    own request with the public hash, and any signature they can think of."""
    codec = PageTokens(SECRET)
    genuine = codec.encode(SCOPE, request(), PAYLOAD)
    doc = {"f": request_fingerprint(request()), "p": {**PAYLOAD, "n": 999_999}}
    body = base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode())
    body_text = body.decode().rstrip("=")
    for mac in (
        genuine.partition(".")[2],  # the signature of another body
        base64.urlsafe_b64encode(hashlib.sha256(body).digest()[:16]).decode().rstrip("="),
        "A" * 22,
    ):
        refused(codec, f"{body_text}.{mac}")
    # The previous, unsigned format (catalog's) is refused too.
    old = {"f": "0123456789abcdef", "k": "x", "i": "x", "n": 0}
    refused(codec, base64.urlsafe_b64encode(json.dumps(old).encode()).decode().rstrip("="))


def test_tokens_expire_when_given_a_lifetime() -> None:
    now = [1_000_000.0]
    codec = PageTokens(SECRET, ttl_s=60, clock=lambda: now[0])
    token = codec.encode(SCOPE, request(), PAYLOAD)
    now[0] += 60
    assert codec.decode(token, SCOPE, request()) == PAYLOAD
    now[0] += 1
    assert refused(codec, token) == f"has expired; {RESTART}"
    # A lifetime per token overrides the codec's; without any, tokens do not expire.
    short = codec.encode(SCOPE, request(), PAYLOAD, ttl_s=5)
    now[0] += 6
    refused(codec, short)
    forever = PageTokens(SECRET, clock=lambda: now[0]).encode(SCOPE, request(), PAYLOAD)
    now[0] += 10 * 365 * 86400
    assert PageTokens(SECRET, clock=lambda: now[0]).decode(forever, SCOPE, request()) == PAYLOAD


def test_short_secrets_and_bad_scopes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PageTokens(b"short")
    with pytest.raises(ValueError, match="scope"):
        PageTokens(SECRET).encode("", None, {})
    with pytest.raises(ValueError, match="scope"):
        PageTokens(SECRET).encode("a\nb", None, {})
    assert "s" * 16 not in repr(PageTokens(SECRET))


def test_the_secret_comes_from_configuration() -> None:
    assert load_page_token_secret({}) is None
    assert load_page_token_secret({"VOD_PAGE_TOKEN_SECRET": "  "}) is None
    assert load_page_token_secret({"VOD_PAGE_TOKEN_SECRET": "k" * 43}) == b"k" * 43
    with pytest.raises(ValueError, match="at least 32 characters"):
        load_page_token_secret({"VOD_PAGE_TOKEN_SECRET": "too-short"})


def test_the_process_codec_uses_the_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "_process", None)
    monkeypatch.setenv("VOD_PAGE_TOKEN_SECRET", "d" * 43)
    token = PageTokens(b"d" * 43).encode(SCOPE, request(), PAYLOAD)
    assert default_page_tokens().decode(token, SCOPE, request()) == PAYLOAD
    assert default_page_tokens() is default_page_tokens()


def test_without_a_secret_the_process_draws_one_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(module, "_process", None)
    monkeypatch.delenv("VOD_PAGE_TOKEN_SECRET", raising=False)
    capsys.readouterr()
    first = default_page_tokens()
    assert default_page_tokens() is first
    # A process that never issues a token (a CLI, the launcher) says nothing...
    assert "page_tokens.ephemeral_secret" not in capsys.readouterr().out
    token = first.encode(SCOPE, request(), PAYLOAD)
    assert first.decode(token, SCOPE, request()) == PAYLOAD
    first.encode(SCOPE, request(), PAYLOAD)
    # ... one that does warns once.
    out = capsys.readouterr().out
    assert out.count("page_tokens.ephemeral_secret") == 1
    assert "VOD_PAGE_TOKEN_SECRET is not set" in out and "restarts" in out
    # Another process (here: another draw) does not accept it.
    monkeypatch.setattr(module, "_process", None)
    refused(default_page_tokens(), token)
