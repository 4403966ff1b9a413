"""OAuth 2.0 connections: connect (authorization code + PKCE), keep tokens fresh, client credentials.

    from engine.oauth import OAuthStates, authorize_url, complete, OAuth2Authenticator

    url = authorize_url(spec, "xero", "acme", callback_url, states=states, env=env)
    record = complete(spec, "xero", code, state, states=states, store=store, env=env)
    auth = OAuth2Authenticator(store, record, spec, env=env)   # an engine Authenticator

Provider quirks live in the connector's `auth:` (see `engine.oauth.spec`). Nothing in this
package imports `engine.spec`, so the spec models can include these auth kinds.
"""

from .client import OAuthClient, UrlKind, UrlRewrite, sandbox_rewrite
from .credentials import ClientCredentialsAuthenticator, TokenCache
from .errors import ConnectionDisconnected, OAuthError, OAuthStateError, TokenRequestError
from .flow import authorize_url, complete
from .refresh import OAuth2Authenticator
from .spec import (
    OAuth2AuthCode,
    OAuth2ClientCredentials,
    OAuthSpec,
    PostConnectRequest,
    PostConnectStep,
    PostConnectStore,
    SandboxOAuth,
    TokenPaths,
)
from .state import OAuthStates, PendingConnect
from .tokens import TokenEndpoint, TokenSet

__all__ = [
    "ClientCredentialsAuthenticator",
    "ConnectionDisconnected",
    "OAuth2AuthCode",
    "OAuth2Authenticator",
    "OAuth2ClientCredentials",
    "OAuthClient",
    "OAuthError",
    "OAuthSpec",
    "OAuthStateError",
    "OAuthStates",
    "PendingConnect",
    "PostConnectRequest",
    "PostConnectStep",
    "PostConnectStore",
    "SandboxOAuth",
    "TokenCache",
    "TokenEndpoint",
    "TokenPaths",
    "TokenRequestError",
    "TokenSet",
    "UrlKind",
    "UrlRewrite",
    "authorize_url",
    "complete",
    "sandbox_rewrite",
]
