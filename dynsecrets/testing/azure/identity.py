"""A Microsoft identity platform fake: the OpenID Connect discovery document MSAL
reads, and the OAuth 2.0 client credentials grant, with Entra ID's AADSTS errors.

Error replies have the OAuth 2.0 shape (RFC 6749 5.2: ``error``, ``error_description``)
plus Entra ID's ``error_codes``, ``timestamp``, ``trace_id`` and ``correlation_id``.
Inject one with ``faults.error("Token", 401, "AADSTS7000215")``: an ``AADSTS<n>`` code
becomes that error's reply; any other code is sent as the OAuth ``error`` field."""

from __future__ import annotations

from typing import Any

from ._http import HTTPError, Request, Route
from .directory import ARM_AUDIENCE, GRAPH_AUDIENCE, Directory

_TENANT = r"/(?P<tenant>[^/]+)"
_MESSAGES = {
    "AADSTS700016": (
        400,
        "unauthorized_client",
        "Application with identifier was not found in the directory.",
    ),
    "AADSTS7000215": (401, "invalid_client", "Invalid client secret provided."),
    "AADSTS7000222": (401, "invalid_client", "The provided client secret keys are expired."),
    "AADSTS90002": (400, "invalid_tenant", "Tenant not found."),
}


def fault_body(err: HTTPError) -> Any:
    """An injected fault in the identity platform's own error shape."""
    if err.code in _MESSAGES:
        return _oauth_error(err.code, err.status).body
    digits = err.code[6:] if err.code.startswith("AADSTS") else ""
    return {
        "error": "invalid_request" if digits else err.code,
        "error_description": f"{err.code}: {err.message}" if digits else err.message,
        "error_codes": [int(digits)] if digits.isdigit() else [],
        "timestamp": "",
        "trace_id": "",
        "correlation_id": "",
    }


def _oauth_error(code: str, status: int | None = None) -> HTTPError:
    default_status, error, text = _MESSAGES[code]
    status = status or default_status
    return HTTPError(
        status,
        error,
        body={
            "error": error,
            "error_description": f"{code}: {text}",
            "error_codes": [int(code[6:])],
            "timestamp": "",
            "trace_id": "",
            "correlation_id": "",
        },
    )


class IdentityFake:
    def __init__(self, directory: Directory, base_url: str) -> None:
        self.d = directory
        self.base_url = base_url

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                f"{_TENANT}/v2.0/.well-known/openid-configuration",
                "OpenIdConfiguration",
                self.discovery,
            ),
            Route("POST", f"{_TENANT}/oauth2/v2.0/token", "Token", self.token),
        ]

    def _tenant(self, tenant: str) -> None:
        if tenant.lower() not in (self.d.tenant_id, "organizations"):
            raise _oauth_error("AADSTS90002")

    def discovery(self, req: Request, tenant: str) -> tuple[int, Any]:
        self._tenant(tenant)
        base = f"{self.base_url}/{self.d.tenant_id}"
        return 200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": None,
        }

    def token(self, req: Request, tenant: str) -> tuple[int, Any]:
        self._tenant(tenant)
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            raise HTTPError(400, "unsupported_grant_type", body={"error": "unsupported_grant_type"})
        scope = form.get("scope", "")
        audience = scope.split()[0].removesuffix("/.default") if scope else ""
        if audience not in (GRAPH_AUDIENCE, ARM_AUDIENCE):
            raise HTTPError(
                400,
                "invalid_scope",
                body={"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"},
            )
        problem = self.d.check_secret(form.get("client_id", ""), form.get("client_secret", ""))
        if problem:
            raise _oauth_error(problem)
        token, expires = self.d.issue_token(form["client_id"], audience)
        return 200, {
            "token_type": "Bearer",
            "expires_in": expires,
            "ext_expires_in": expires,
            "access_token": token,
        }
