"""The OAuth auth kinds as YAML: every provider style parses, mistakes are refused, docs are complete."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from engine.oauth import spec as oauth_spec
from engine.oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials

from .test_oauth_support import AUTH, ROOT, ROOT_IMPORT_CHECK, STYLES, auth_spec, code_spec


@pytest.mark.parametrize("name", sorted(STYLES))
def test_every_provider_style_parses(name: str) -> None:
    parsed = auth_spec(name)
    expected = OAuth2ClientCredentials if name == "paypal" else OAuth2AuthCode
    assert isinstance(parsed, expected)


def test_provider_quirks_are_data() -> None:
    assert code_spec("google_calendar").extra_authorize_params == {
        "access_type": "offline",
        "prompt": "consent",
    }
    tiktok = code_spec("tiktok")
    assert (tiktok.param_names.client_id, tiktok.scope_separator, tiktok.token_auth_method) == (
        "client_key",
        ",",
        "client_secret_post",
    )
    assert code_spec("xero").refresh_buffer_seconds == 300
    assert code_spec("xero").post_connect[0].store.config == {"tenant_id": "0.tenantId"}
    assert code_spec("notion").long_lived
    paypal = auth_spec("paypal")
    assert paypal.token_auth_method == "client_secret_basic"


def test_defaults_follow_the_rfc() -> None:
    spec = AUTH.validate_python(
        {
            "type": "oauth2",
            "authorize_url": "https://a/auth",
            "token_url": "https://a/token",
            "client_id": "x",
            "client_secret": "y",
        }
    )
    assert isinstance(spec, OAuth2AuthCode)
    assert (spec.token_auth_method, spec.pkce, spec.scope_separator, spec.refresh_buffer_seconds) == (
        "client_secret_basic",
        "none",
        " ",
        60,
    )
    assert spec.token.access_token == "access_token" and spec.token.expires_in == "expires_in"
    assert not spec.refresh_token_rotates and not spec.long_lived and spec.post_connect == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"scope": "x"}, "Extra inputs are not permitted"),
        ({"pkce": "plain"}, "S256"),
        ({"token_auth_method": "private_key_jwt"}, "client_secret_basic"),
        ({"refresh_buffer_seconds": -1}, "greater than or equal to 0"),
        ({"post_connect": [{"request": {"url": "https://x"}, "store": {"tenant": "0.id"}}]}, "Extra inputs"),
    ],
)
def test_mistakes_are_refused(change: dict[str, Any], complaint: str) -> None:
    data = {**yaml.safe_load(STYLES["xero"]), **change}
    with pytest.raises(ValidationError, match=complaint):
        AUTH.validate_python(data)


def test_models_are_frozen() -> None:
    spec = code_spec("xero")
    with pytest.raises(ValidationError):
        spec.pkce = "none"  # type: ignore[misc]


def _models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(oauth_spec).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == oauth_spec.__name__
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_field_is_described_for_the_editor_schema(model: type[BaseModel]) -> None:
    assert model.__doc__, model
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
    assert model.model_config.get("extra") == "forbid" and model.model_config.get("frozen")


def test_importing_the_package_does_not_import_the_spec_models() -> None:
    """engine.spec.models will import engine.oauth.spec for its auth union: no cycle allowed."""
    done = subprocess.run(
        [sys.executable, "-c", ROOT_IMPORT_CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
