"""Property tests over HTTP: random headers and bodies at every signed receiver of one running
`manifold serve`.

Whatever arrives without a valid signature (random headers, random values in each scheme's
signature and timestamp headers, signatures made with a wrong secret or key, signatures of
another body, stale timestamps), the answer is never a 500 and nothing is stored. The positive
control at the end sends correctly signed deliveries through the same helper, so the properties
cannot hold vacuously.
"""

from __future__ import annotations

import base64
import functools
import json
import string
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from .test_webhook_support import KeyServer, b64url, key_server, rsa_key, sign_rs256_jwt
from .web_support import RunningService
from .web_webhook_support import (
    BODY_SIGNED,
    CHANNEL_TOKEN,
    GMAIL_KID,
    META_VERIFY_TOKEN,
    SIGNED_HEADERS,
    SIGNED_STYLES,
    TIMESTAMPED_STYLES,
    Style,
    key_documents,
    now,
    provider_styles,
    receiver_environment,
    serve,
    write_connectors,
)

STATUSES = {200, 400, 401, 403, 404, 405, 413, 503}
MAX_BODY = 16 * 1024
EXAMPLES = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
HEADER_NAMES = sorted({h for names in SIGNED_HEADERS.values() for h in names}) + [
    "X-DocuSign-Signature-2",
    "X-Goog-Channel-ID",
    "X-Goog-Resource-State",
    "X-Goog-Message-Number",
    "Content-Type",
    "X-Slack-Retry-Num",
]


# ---------------------------------------------------------------- one server for the module


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    with key_server(key_documents()) as server:
        yield server


@pytest.fixture(scope="module")
def styles(keys: KeyServer) -> dict[str, Style]:
    return provider_styles(keys.url(""))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, keys: KeyServer) -> Iterator[RunningService]:
    folder: Path = tmp_path_factory.mktemp("webhook-properties")
    connectors = write_connectors(folder / "connectors", keys.url(""))
    with receiver_environment(), serve(folder, connectors, max_body=MAX_BODY) as service:
        yield service


@pytest.fixture(scope="module")
def http(running: RunningService) -> Iterator[httpx.Client]:
    with running.client() as client:
        yield client


def stored_events(running: RunningService) -> int:
    return int(running.service.db.query("SELECT COUNT(*) AS n FROM webhook_events")[0]["n"])


def deliver(
    http: httpx.Client,
    path: str,
    headers: dict[str, str] | dict[bytes, bytes],
    body: bytes,
    method: str = "POST",
    query: dict[str, str] | None = None,
) -> int:
    """Send one request; its status must be one the receiver answers with, never a 500."""
    answer = http.request(method, path, content=body, headers=headers, params=query)
    assert answer.status_code in STATUSES, (answer.status_code, answer.text)
    return answer.status_code


# ---------------------------------------------------------------- strategies

# What h11 lets a client send in a header value: visible bytes, obs-text, inner spaces.
VALUE_BYTES = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100)) + b"\x01\x1f"
near_now = st.integers(-400, 400).map(lambda d: str(now() + d))
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex) | st.text("0123456789abcdefABCDEF", max_size=70)
b64 = st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode())
raw_value = st.lists(st.sampled_from(list(VALUE_BYTES)), max_size=80).map(bytes)
spaced = st.lists(st.text(string.printable.strip(), min_size=1, max_size=20), max_size=4).map(" ".join)


def _jwt_like(header: bytes, claims: bytes, signature: bytes) -> str:
    return "Bearer " + ".".join(b64url(x) for x in (header, claims, signature))


@st.composite
def attacker_jwt(draw: st.DrawFn) -> str:
    """A well-formed RS256 token with the right kid and claims, signed by a key Google never had."""
    claims = {
        "aud": draw(st.sampled_from(["https://manifold.example.com/webhooks/gmail", "https://evil"])),
        "email": "gmail-push@my-project.iam.gserviceaccount.com",
        "email_verified": True,
        "iss": "https://accounts.google.com",
        "iat": now() + draw(st.integers(-100, 100)),
        "exp": now() + draw(st.integers(-100, 3600)),
    }
    return "Bearer " + sign_rs256_jwt(rsa_key("attacker"), draw(st.sampled_from([GMAIL_KID, "zz"])), claims)


@functools.cache
def header_values(keys_url: str) -> st.SearchStrategy[str | bytes]:
    """Random values, and values shaped like each scheme's headers but carrying no valid signature."""
    return st.one_of(
        raw_value,
        spaced,
        near_now,
        hex64,
        b64,
        st.builds("t={},v1={}".format, near_now, hex64),
        st.builds("t={},s={}".format, near_now, hex64),
        st.builds("sha256={}".format, hex64),
        st.builds("v0={}".format, hex64),
        st.lists(b64.map("v1,{}".format), max_size=4).map(" ".join),
        st.builds(
            _jwt_like,
            st.sampled_from(
                [json.dumps({"alg": "RS256", "kid": GMAIL_KID}).encode(), b'{"alg":"none"}', b"\xff"]
            ),
            st.binary(max_size=120),
            st.binary(max_size=120),
        ),
        attacker_jwt(),
        st.sampled_from(
            [
                keys_url + "/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",  # the real one
                keys_url + "/v1/notifications/certs/CERT-unknown",  # allow-listed, not served: 503
                "https://api.paypal.com/v1/notifications/certs/CERT-1",
                "https://evil.example.com/cert",
                "SHA256withRSA",
                "sync",
                "exists",
                "not_exists",
                CHANNEL_TOKEN[:-1],
                CHANNEL_TOKEN + "x",
                "4ba78bf0-6a47-11e2-bcfd-0800200c9a66",
            ]
        ),
    )


header_names = st.sampled_from(HEADER_NAMES) | st.text(
    string.ascii_letters + string.digits + "-_", min_size=1, max_size=20
).map("X-{}".format)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
json_keys = st.sampled_from(
    ["id", "type", "event", "event_id", "events", "message", "object", "data", "challenge", "entry"]
) | st.text(max_size=8)


def _sized(chunk: bytes, size: int) -> bytes:
    return (chunk * (size // len(chunk) + 1))[:size]


# Shaped like the unsigned or signed handshakes: Notion's token, Slack's challenge, Xero's intent.
handshake_bodies = st.one_of(
    st.fixed_dictionaries({"verification_token": json_values}),
    st.fixed_dictionaries({"type": st.just("url_verification"), "challenge": json_values}),
    st.fixed_dictionaries({"events": st.just([]), "firstEventSequence": st.integers()}),
).map(lambda d: json.dumps(d).encode())


@functools.cache
def bodies(real: bytes, *, handshakes: bool) -> st.SearchStrategy[bytes]:
    """Bytes, JSON (with the keys providers use), the real body, empty, and big ones (some past
    the limit). `handshakes`: may be shaped like a handshake, e.g. Notion's unsigned token POST."""
    documents = st.dictionaries(json_keys, json_values, max_size=5).map(lambda d: json.dumps(d).encode())
    sizes = st.sampled_from([2_000, MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 40_000])
    big = st.builds(_sized, st.binary(min_size=1, max_size=64), sizes)
    shapes = [st.binary(max_size=300), documents, st.just(real), st.just(b""), big]
    return st.one_of(*shapes, handshake_bodies) if handshakes else st.one_of(*shapes)


@functools.cache
def random_headers(keys_url: str) -> st.SearchStrategy[dict[str, str | bytes]]:
    return st.dictionaries(header_names, header_values(keys_url), max_size=8)


@functools.cache
def bodies_within_limit(real: bytes) -> st.SearchStrategy[bytes]:
    return bodies(real, handshakes=False).filter(lambda b: len(b) <= MAX_BODY)


def signed_headers(style: Style) -> dict[str, str]:
    return style.sign(style.body, now())


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("name", SIGNED_STYLES)
@EXAMPLES
@given(data=st.data())
def test_random_headers_and_bodies_are_never_a_500_and_never_stored(
    running: RunningService,
    http: httpx.Client,
    styles: dict[str, Style],
    keys: KeyServer,
    name: str,
    data: Any,
) -> None:
    style = styles[name]
    headers = data.draw(random_headers(keys.url("")))
    encoded = {k.encode(): v if isinstance(v, bytes) else v.encode("latin-1") for k, v in headers.items()}
    body = data.draw(bodies(style.body, handshakes=True))
    method = data.draw(st.sampled_from(["POST"] * 8 + ["GET", "GET", "PUT", "DELETE", "PATCH"]))
    query = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "hub.mode": st.sampled_from(["subscribe", "unsubscribe", ""]),
                "hub.verify_token": st.sampled_from([META_VERIFY_TOKEN, "guess", ""]),
                "hub.challenge": st.text(max_size=30),
            },
        )
    )
    path = style.path
    if style.connection_id is not None and data.draw(st.booleans()):
        path = "/webhooks/stripe_accounts/" + data.draw(
            st.text(string.ascii_letters, min_size=1, max_size=200)
        )
    event(f"status {deliver(http, path, encoded, body, method, query)}")  # --hypothesis-show-statistics
    assert stored_events(running) == 0


@pytest.mark.parametrize("name", SIGNED_STYLES)
@EXAMPLES
@given(data=st.data())
def test_a_wrong_secret_another_body_or_a_stale_time_is_always_401(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str, data: Any
) -> None:
    """Deliveries that look right in every way but one are refused by verification itself."""
    style = styles[name]
    body = data.draw(bodies_within_limit(style.body))
    kinds = ["forged"]
    if name in BODY_SIGNED and body != style.body:
        kinds.append("another body")
    if name in TIMESTAMPED_STYLES:
        kinds.append("stale")
    kind = data.draw(st.sampled_from(kinds))
    if kind == "forged":
        headers = style.forge(body, now() + data.draw(st.integers(-200, 200)))
    elif kind == "another body":
        assume(zlib.crc32(body) != zlib.crc32(style.body))  # PayPal signs the body's CRC32
        headers = signed_headers(style)
    else:
        offset = data.draw(st.integers(3700, 10**6) | st.integers(-(10**6), -3700))
        headers = style.sign(body, now() + offset)
    assert deliver(http, style.path, headers, body) == 401
    assert stored_events(running) == 0


@pytest.mark.parametrize("name", SIGNED_STYLES)
@EXAMPLES
@given(data=st.data())
def test_replacing_any_signed_header_of_a_valid_delivery_is_refused(
    running: RunningService,
    http: httpx.Client,
    styles: dict[str, Style],
    keys: KeyServer,
    name: str,
    data: Any,
) -> None:
    style = styles[name]
    headers = signed_headers(style)
    header = data.draw(st.sampled_from(SIGNED_HEADERS[name]))
    value = data.draw(header_values(keys.url("")))
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    assume(text.strip() != headers[header].strip())
    encoded = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
    encoded[header.encode()] = value if isinstance(value, bytes) else value.encode("latin-1")
    refused = {401, 503}  # 503: PayPal's certificate URL is allow-listed but not served
    if any(ch < " " for ch in text):
        refused.add(400)  # the HTTP server itself refuses control characters in a header
    assert deliver(http, style.path, encoded, style.body) in refused
    assert stored_events(running) == 0


# ---------------------------------------------------------------- positive control


@pytest.mark.parametrize("name", SIGNED_STYLES)
def test_positive_control_a_correctly_signed_delivery_is_stored(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    """The same server, helper and signers store a valid delivery: the properties are not vacuous."""
    style = styles[name]
    try:
        assert deliver(http, style.path, signed_headers(style), style.body) == 200
        assert stored_events(running) == 1
    finally:
        running.service.db.execute("DELETE FROM webhook_events")
    assert stored_events(running) == 0
