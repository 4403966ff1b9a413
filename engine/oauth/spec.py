"""OAuth 2.0 auth kinds as connector YAML declares them, and the sandbox's OAuth server options.

Provider quirks are data, not code. Google (offline access, PKCE):

    auth:
      type: oauth2
      authorize_url: https://accounts.google.com/o/oauth2/v2/auth
      token_url: https://oauth2.googleapis.com/token
      client_id: "{{ env.GOOGLE_CLIENT_ID }}"
      client_secret: "{{ env.GOOGLE_CLIENT_SECRET }}"
      scopes: [https://www.googleapis.com/auth/calendar.readonly]
      pkce: S256
      extra_authorize_params: {access_type: offline, prompt: consent}

PayPal (client credentials, basic auth at the token endpoint):

    auth: {type: client_credentials, token_url: https://api-m.paypal.com/v1/oauth2/token,
           client_id: "{{ env.PAYPAL_CLIENT_ID }}", client_secret: "{{ env.PAYPAL_CLIENT_SECRET }}"}

This module imports nothing from the engine, so `engine.spec.models` can put these kinds
in its auth union without an import cycle.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Template = Annotated[str, Field(description="A Jinja2 template string, e.g. '{{ env.GOOGLE_CLIENT_ID }}'.")]
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]
TokenBody = Literal["form", "json"]


class _Strict(BaseModel):
    """Unknown keys are errors; parsed specs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamNames(_Strict):
    """Names the provider uses for the client's id and secret (TikTok: `client_key`)."""

    client_id: str = Field(
        "client_id", description="Parameter carrying the client id, at authorize and token endpoints."
    )
    client_secret: str = Field(
        "client_secret", description="Form field carrying the client secret (client_secret_post)."
    )


class TokenPaths(_Strict):
    """Where each value sits in the token endpoint's JSON response (dotted paths)."""

    access_token: str = Field("access_token", description="Path of the access token.")
    refresh_token: str = Field("refresh_token", description="Path of the refresh token, if any.")
    expires_in: str = Field("expires_in", description="Path of the access token's lifetime in seconds.")
    scope: str = Field("scope", description="Path of the granted scopes (a string or a list).")
    token_type: str = Field("token_type", description="Path of the token type ('Bearer').")
    account_id: str | None = Field(
        None,
        description="Path of the provider account id in the token response, e.g. TikTok 'open_id', "
        "Notion 'workspace_id'.",
    )
    account: dict[str, str] = Field(
        default_factory=dict,
        description="Account facts kept from the token response: key -> path, e.g. "
        "{workspace_name: workspace_name}.",
    )
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Secret values kept (encrypted) with the tokens: key -> path, e.g. Slack's "
        "{incoming_webhook_url: incoming_webhook.url}; templates read them as '{{ secrets.KEY }}'.",
    )


class PostConnectRequest(_Strict):
    """One HTTP request made right after the code exchange, with the new access token."""

    method: Literal["GET", "POST"] = Field("GET", description="HTTP method.")
    url: Template = Field(
        description="Absolute URL (template; names: token, env, secrets, config, connection, account), "
        "e.g. 'https://api.xero.com/connections'."
    )
    headers: dict[str, Template] = Field(default_factory=dict, description="Extra headers (templates).")
    params: dict[str, Template] = Field(default_factory=dict, description="Query parameters (templates).")
    form: dict[str, Template] | None = Field(None, description="Form body (templates), for POST.")
    json_body: dict[str, Any] | None = Field(
        None, alias="json", description="JSON body for POST; string values are templates."
    )
    bearer: bool = Field(
        True,
        description="Send 'Authorization: Bearer <access token>'. Off when the token travels in a "
        "parameter, as in Meta's fb_exchange_token call.",
    )


class PostConnectStore(_Strict):
    """What to keep from a post-connect response: paths into its JSON body.

    Paths may select from a list: `accounts[is_default=true].account_id`.
    """

    account_id: str | None = Field(
        None,
        description="Path of the provider account id (Xero '0.tenantId', DocuSign "
        "'accounts[is_default=true].account_id').",
    )
    account: dict[str, str] = Field(
        default_factory=dict, description="Account facts to keep: key -> path (shown in admin screens)."
    )
    config: dict[str, str] = Field(
        default_factory=dict,
        description="Connection config values to set: key -> path, e.g. {tenant_id: 0.tenantId}; "
        "streams read them as '{{ config.tenant_id }}'.",
    )
    access_token: str | None = Field(
        None, description="Path of a token that replaces the access token (Meta long-lived exchange)."
    )
    expires_in: str | None = Field(None, description="Path of the replacing token's lifetime in seconds.")


class PostConnectStep(_Strict):
    """A request run after the code exchange, and what to store from its answer."""

    name: str = Field("", description="What the step does, shown in errors, e.g. 'tenant lookup'.")
    request: PostConnectRequest = Field(description="The request to make.")
    store: PostConnectStore = Field(default_factory=PostConnectStore, description="What to keep.")
    required: bool = Field(True, description="Fail the connect when a stored path is missing.")


class TokenRefreshRequest(_Strict):
    """A refresh that is not the refresh_token grant: a request made with the current access token,
    whose answer replaces it. Instagram's 60-day tokens:

        refresh:
          request: {url: https://graph.instagram.com/refresh_access_token, bearer: false,
                    params: {grant_type: ig_refresh_token, access_token: "{{ token.access_token }}"}}
    """

    request: PostConnectRequest = Field(
        description="The request (templates see `token`: access_token, token_type; env, secrets, config, "
        "connection)."
    )
    access_token: str = Field("access_token", description="Path of the new access token in the answer.")
    expires_in: str | None = Field(
        "expires_in", description="Path of its lifetime in seconds; none: it does not expire."
    )


class _OAuthClient(_Strict):
    """What both grants share: the client, its token endpoint, scopes, the token response."""

    token_url: Template = Field(description="Token endpoint URL (template).")
    client_id: Template = Field(description="Client id (template), e.g. '{{ env.GOOGLE_CLIENT_ID }}'.")
    client_secret: Template = Field(
        description="Client secret (template), e.g. '{{ env.GOOGLE_CLIENT_SECRET }}'."
    )
    token_auth_method: TokenAuthMethod = Field(
        "client_secret_basic",
        description="How the client authenticates at the token endpoint: HTTP Basic, or id and "
        "secret as form fields.",
    )
    token_body: TokenBody = Field(
        "form",
        description="How token requests carry their parameters: form (application/x-www-form-urlencoded, "
        "RFC 6749) or json (an application/json object: Notion).",
    )
    param_names: ParamNames = Field(
        default_factory=ParamNames, description="Renamed client parameters (TikTok: client_key)."
    )
    scopes: list[str] = Field(default_factory=list, description="Scopes requested.")
    scope_separator: str = Field(" ", description="Separator of scopes in requests (TikTok: ',').")
    extra_token_params: dict[str, Template] = Field(
        default_factory=dict, description="Extra form fields sent with every token request (templates)."
    )
    token: TokenPaths = Field(
        default_factory=TokenPaths, description="Where values sit in the token response."
    )
    refresh_buffer_seconds: int = Field(
        60, ge=0, description="Get a new token this many seconds before it expires (Xero, DocuSign: 300)."
    )


class OAuth2AuthCode(_OAuthClient):
    """OAuth 2.0 authorization code grant: each user connects their own account.

    The access token goes in `Authorization: Bearer`; it is refreshed before it expires and
    once on a 401. A refused refresh (`invalid_grant`) disconnects the connection.
    """

    type: Literal["oauth2"] = Field(description="Authorization code grant.")
    authorize_url: Template = Field(description="Authorization endpoint URL (template).")
    pkce: Literal["none", "S256"] = Field("none", description="PKCE code challenge method.")
    extra_authorize_params: dict[str, Template] = Field(
        default_factory=dict,
        description="Extra authorize parameters (templates), e.g. Google {access_type: offline, "
        "prompt: consent}.",
    )
    refresh_token_rotates: bool = Field(
        False,
        description="Each refresh returns a new refresh token and spends the old one (Xero, TikTok, "
        "DocuSign); a refresh answer without one is then an error.",
    )
    long_lived: bool = Field(
        False,
        description="The token does not expire and cannot be refreshed (Notion): a 401 disconnects.",
    )
    refresh: TokenRefreshRequest | None = Field(
        None,
        description="Refresh by a request with the current access token instead of the refresh_token "
        "grant (Instagram's ig_refresh_token); the token is refreshed `refresh_buffer_seconds` before "
        "it expires.",
    )
    post_connect: list[PostConnectStep] = Field(
        default_factory=list,
        description="Requests run after the code exchange: tenant or account lookups, token exchanges.",
    )


class OAuth2ClientCredentials(_OAuthClient):
    """OAuth 2.0 client credentials grant (PayPal): the app's own token, cached until it expires."""

    type: Literal["client_credentials"] = Field(description="Client credentials grant.")


OAuthSpec = OAuth2AuthCode | OAuth2ClientCredentials


class SandboxOAuth(_Strict):
    """How the sandbox's OAuth server behaves for one connector (`sandbox.oauth`).

    The client id and secret it expects, the client authentication method, renamed
    parameters, PKCE and refresh-token rotation come from the connector's `auth:`
    rendered with `sandbox.env`; these options only tune the emulation.
    """

    access_token_ttl: float = Field(3600, gt=0, description="Lifetime of issued access tokens, seconds.")
    code_ttl: float = Field(600, gt=0, description="Lifetime of authorization codes, seconds.")
    long_lived_ttl: float = Field(
        5_184_000, gt=0, description="Lifetime of tokens from fb_exchange_token / ig_exchange_token."
    )
    refresh_token_rotates: bool | None = Field(
        None, description="Rotate refresh tokens; unset: as the connector's auth says."
    )
    exchange_paths: list[str] = Field(
        default_factory=list,
        description="More paths answered by the token endpoint, e.g. Meta '/v21.0/oauth/access_token'.",
    )
    token_extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields added to every token response, e.g. {open_id: u1} (TikTok), "
        "{workspace_id: w1} (Notion).",
    )
