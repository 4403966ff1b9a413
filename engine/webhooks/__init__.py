"""Webhook verification: spec models, schemes, handshakes and event identity.

```python
verify_spec, secrets = render_verify(spec.webhooks.verify, render)   # templates -> values
reply = answer_handshake(spec.webhooks.handshake, method=..., query=..., body=body, verified=False)
verified = verify(verify_spec, secrets, headers, body, time.time())  # or WebhookRejected
identity = identify(spec.webhooks, verified, headers, body)          # (id, type) or 400
```
"""

from .errors import WebhookConfigError, WebhookRejected
from .handshakes import (
    Reply,
    answer_handshake,
    meta_subscribe,
    notion_verification_token,
    slack_url_verification,
    xero_intent_to_receive,
)
from .identity import EventIdentity, identify
from .keys import DEFAULT_KEYS, KeyStore, http_fetch
from .schemes import SCHEMES, Scheme, Verified, verify
from .spec import (
    AnyVerify,
    ChannelTokenVerify,
    EventField,
    HandshakeSpec,
    HmacVerify,
    JwtVerify,
    NoVerify,
    RsaCertVerify,
    VerifySpec,
    WebhooksSpec,
    render_verify,
    secret_templates,
)

__all__ = [
    "DEFAULT_KEYS",
    "SCHEMES",
    "AnyVerify",
    "ChannelTokenVerify",
    "EventField",
    "EventIdentity",
    "HandshakeSpec",
    "HmacVerify",
    "JwtVerify",
    "KeyStore",
    "NoVerify",
    "Reply",
    "RsaCertVerify",
    "Scheme",
    "Verified",
    "VerifySpec",
    "WebhookConfigError",
    "WebhookRejected",
    "WebhooksSpec",
    "answer_handshake",
    "http_fetch",
    "identify",
    "meta_subscribe",
    "notion_verification_token",
    "render_verify",
    "secret_templates",
    "slack_url_verification",
    "verify",
    "xero_intent_to_receive",
]
