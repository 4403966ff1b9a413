"""The `jwt` scheme: Google Cloud Pub/Sub push (Gmail) with an OIDC token, keys from a local server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from engine.webhooks import JwtVerify, KeyStore, WebhookRejected, verify
from engine.webhooks.keys import FetchError

from .test_webhook_support import NOW, b64url, jwk_of, key_server, rsa_key, self_signed_pem, sign_rs256_jwt

AUDIENCE = "https://manifold.example.com/webhooks/gmail"
ACCOUNT = "gmail-push@my-project.iam.gserviceaccount.com"
BODY = json.dumps(
    {
        "message": {
            "data": "eyJlbWFpbEFkZHJlc3MiOiAidXNlckBleGFtcGxlLmNvbSIsICJoaXN0b3J5SWQiOiAiMTIzNDU2Nzg5MCJ9",
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "publishTime": "2021-02-26T19:13:55.749Z",
            "publish_time": "2021-02-26T19:13:55.749Z",
        },
        "subscription": "projects/myproject/subscriptions/mysubscription",
    }
).encode()


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "aud": AUDIENCE,
        "azp": "112233445566778899000",
        "email": ACCOUNT,
        "email_verified": True,
        "exp": int(NOW) + 3600,
        "iat": int(NOW),
        "iss": "https://accounts.google.com",
        "sub": "112233445566778899000",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def google_certs(*kids: str) -> bytes:
    """Google's v1 certs document: {kid: PEM certificate}."""
    return json.dumps(
        {kid: self_signed_pem(rsa_key(kid), "accounts.google.com").decode() for kid in kids}
    ).encode()


@pytest.fixture()
def server() -> Iterator[Any]:
    with key_server({"/oauth2/v1/certs": google_certs("a"), "/oauth2/v3/certs": b""}) as running:
        running.documents["/oauth2/v3/certs"] = json.dumps({"keys": [jwk_of(rsa_key("b"), "b")]}).encode()
        yield running


def spec(certs_url: str, **extra: Any) -> JwtVerify:
    return JwtVerify(scheme="jwt", audience=AUDIENCE, service_account=ACCOUNT, certs_url=certs_url, **extra)


def bearer(kid: str = "a", signer: str | None = None, **overrides: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_rs256_jwt(rsa_key(signer or kid), kid, claims(**overrides))}"}


def test_a_pubsub_push_signed_by_a_google_cert_is_accepted(server: Any) -> None:
    keys = KeyStore()
    verified = verify(spec(server.url("/oauth2/v1/certs")), [], bearer(), BODY, NOW, keys=keys)
    assert verified.scheme == "jwt"
    assert verified.subject == ACCOUNT


def test_a_jwks_document_is_accepted_too(server: Any) -> None:
    assert verify(spec(server.url("/oauth2/v3/certs")), [], bearer("b"), BODY, NOW, keys=KeyStore())


@pytest.mark.parametrize("issuer", ["accounts.google.com", "https://accounts.google.com"])
def test_both_google_issuers_are_accepted(server: Any, issuer: str) -> None:
    assert verify(spec(server.url("/oauth2/v1/certs")), [], bearer(iss=issuer), BODY, NOW, keys=KeyStore())


def test_keys_are_cached_until_their_ttl(server: Any) -> None:
    keys, url = KeyStore(), server.url("/oauth2/v1/certs")
    for offset in (0, 10, 3599):
        verify(spec(url), [], bearer(iat=int(NOW) + offset), BODY, NOW + offset, keys=keys)
    assert server.hits["/oauth2/v1/certs"] == 1
    verify(spec(url), [], bearer(iat=int(NOW) + 3600), BODY, NOW + 3600, keys=keys)
    assert server.hits["/oauth2/v1/certs"] == 2


def test_an_unknown_kid_refreshes_the_keys_once(server: Any) -> None:
    keys, url = KeyStore(refetch_interval=10), server.url("/oauth2/v1/certs")
    verify(spec(url), [], bearer("a"), BODY, NOW, keys=keys)
    server.documents["/oauth2/v1/certs"] = google_certs("a", "c")  # Google rotates in a new key
    later = NOW + 60
    assert verify(spec(url), [], bearer("c", iat=int(later)), BODY, later, keys=keys)
    assert server.hits["/oauth2/v1/certs"] == 2
    with pytest.raises(WebhookRejected) as info:
        verify(spec(url), [], bearer("zz", signer="a", iat=int(later)), BODY, later + 30, keys=keys)
    assert (info.value.status, info.value.reason) == (401, "token signed with an unknown key")
    assert server.hits["/oauth2/v1/certs"] == 3
    with pytest.raises(WebhookRejected):  # a burst of random kids does not hammer the key server
        verify(spec(url), [], bearer("zz2", signer="a", iat=int(later)), BODY, later + 31, keys=keys)
    assert server.hits["/oauth2/v1/certs"] == 3


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://evil.example.com/webhooks/gmail"}, "token audience does not match"),
        ({"iss": "https://evil.example.com"}, "token issuer is not accepted"),
        (
            {"email": "someone@evil.iam.gserviceaccount.com"},
            "token is not from the configured service account",
        ),
        ({"email": None}, "token is not from the configured service account"),
        ({"email_verified": False}, "token email is not verified"),
        ({"email_verified": None}, "token email is not verified"),
        ({"exp": int(NOW) - 31}, "token expired"),
        ({"exp": None}, "token lacks exp or iat"),
        ({"iat": None}, "token lacks exp or iat"),
        ({"exp": "soon"}, "token lacks exp or iat"),
        ({"iat": int(NOW) + 120}, "token is not valid yet"),
        ({"nbf": int(NOW) + 120}, "token is not valid yet"),
    ],
)
def test_claims_are_checked(server: Any, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        verify(spec(server.url("/oauth2/v1/certs")), [], bearer(**overrides), BODY, NOW, keys=KeyStore())
    assert (info.value.status, info.value.reason) == (401, reason)


def test_clock_skew_within_the_leeway_is_accepted(server: Any) -> None:
    url = server.url("/oauth2/v1/certs")
    assert verify(spec(url), [], bearer(exp=int(NOW) - 20, iat=int(NOW) + 20), BODY, NOW, keys=KeyStore())


def test_an_audience_list_containing_ours_is_accepted(server: Any) -> None:
    url = server.url("/oauth2/v1/certs")
    assert verify(spec(url), [], bearer(aud=["other", AUDIENCE]), BODY, NOW, keys=KeyStore())


def test_a_token_signed_by_another_key_or_tampered_is_rejected(server: Any) -> None:
    url = server.url("/oauth2/v1/certs")
    with pytest.raises(WebhookRejected) as info:
        verify(spec(url), [], bearer("a", signer="b"), BODY, NOW, keys=KeyStore())
    assert info.value.reason == "token signature does not verify"
    token = bearer()["Authorization"].split()[1]
    head, _, sig = token.split(".")
    forged = b64url(json.dumps(claims(email="attacker@example.com")).encode())
    with pytest.raises(WebhookRejected):
        verify(spec(url), [], {"Authorization": f"Bearer {head}.{forged}.{sig}"}, BODY, NOW, keys=KeyStore())


def test_algorithm_confusion_is_rejected(server: Any) -> None:
    """An HS256 token keyed with the public certificate, or alg none, never verifies."""
    url = server.url("/oauth2/v1/certs")
    pem = json.loads(google_certs("a"))["a"].encode()
    for alg, signature in (("HS256", None), ("none", b"")):
        header = b64url(json.dumps({"alg": alg, "kid": "a", "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims()).encode())
        signing_input = f"{header}.{payload}"
        mac = (
            hmac.new(pem, signing_input.encode(), hashlib.sha256).digest() if signature is None else signature
        )
        token = f"{signing_input}.{b64url(mac)}"
        with pytest.raises(WebhookRejected) as info:
            verify(spec(url), [], {"Authorization": f"Bearer {token}"}, BODY, NOW, keys=KeyStore())
        assert info.value.reason == "token is not RS256"


@pytest.mark.parametrize(
    "value", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer !!.??.--", "Bearer e30.e30.e30"]
)
def test_a_missing_or_malformed_authorization_is_401(server: Any, value: str | None) -> None:
    headers = {} if value is None else {"Authorization": value}
    with pytest.raises(WebhookRejected) as info:
        verify(spec(server.url("/oauth2/v1/certs")), [], headers, BODY, NOW, keys=KeyStore())
    assert info.value.status == 401


def test_unreachable_keys_are_503_but_cached_keys_outlive_an_outage() -> None:
    calls: list[str] = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        if len(calls) > 1:
            raise FetchError("down")
        return google_certs("a")

    keys = KeyStore(fetch)
    url = "https://www.googleapis.com/oauth2/v1/certs"
    assert verify(spec(url), [], bearer(), BODY, NOW, keys=keys)
    later = NOW + 7200  # past the TTL: the refetch fails, the old keys still verify
    assert verify(spec(url), [], bearer(iat=int(later), exp=int(later) + 60), BODY, later, keys=keys)
    with pytest.raises(WebhookRejected) as info:
        verify(spec(url), [], bearer(), BODY, NOW, keys=KeyStore(fetch))
    assert info.value.status == 503


def test_keys_can_be_injected_without_any_server() -> None:
    keys = KeyStore(lambda url: google_certs("a"))
    verified = verify(spec("https://www.googleapis.com/oauth2/v1/certs"), [], bearer(), BODY, NOW, keys=keys)
    assert verified.attributes["sub"] == "112233445566778899000"


def test_the_pubsub_body_is_not_part_of_the_check(server: Any) -> None:
    """Pub/Sub signs the request, not the body: the token alone authenticates the push."""
    data = base64.b64decode(json.loads(BODY)["message"]["data"])
    assert json.loads(data)["historyId"] == "1234567890"
    assert verify(spec(server.url("/oauth2/v1/certs")), [], bearer(), b"{}", NOW, keys=KeyStore())
