"""A REST client on azure-core's pipeline, shared by Microsoft Graph and the ARM calls
azure-mgmt-authorization has no method for (``Microsoft.Authorization/permissions``
at any scope): bearer token for one audience, our CA, no retries of its own, and
every error mapped by :func:`.errors.azure_errors`."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ... import retry as _retry
from .config import transport_kwargs
from .errors import azure_errors, parse_error


def timeouts() -> dict[str, Any]:
    """Bound one HTTP call by what is left of the operation's deadline."""
    left = _retry.remaining(60.0) or 0.0
    return {"connection_timeout": max(0.5, min(10.0, left)), "read_timeout": max(0.5, left)}


def observer_policy(observers: list[Callable[[str, str, int], None]]) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class Observe(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_response(self, request: Any, response: Any) -> None:
            for hook in list(observers):
                hook(
                    request.http_request.method,
                    request.http_request.url,
                    response.http_response.status_code,
                )

    return Observe()


class RestClient:
    def __init__(
        self,
        base: str,
        credential: Any,
        scope: str,
        config: Mapping[str, Any],
        observers: list[Callable[[str, str, int], None]],
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            HeadersPolicy,
            HttpLoggingPolicy,
            UserAgentPolicy,
        )
        from azure.core.pipeline.transport import RequestsTransport

        kwargs = transport_kwargs(config)
        kwargs.pop("retry_total")  # no RetryPolicy in this pipeline at all
        self.base = base
        self._client: Any = PipelineClient(
            base_url=self.base,
            policies=[
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy(sdk_moniker="dynsecrets"),
                BearerTokenCredentialPolicy(credential, scope),
                observer_policy(observers),
                # Headers only (Authorization redacted); never bodies, which hold secrets.
                HttpLoggingPolicy(),
            ],
            transport=RequestsTransport(**kwargs),
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        propagation: Collection[str] = (),
    ) -> Any:
        """One call; the decoded JSON reply (None for 204). ``path`` is relative to
        the base URL, or an absolute URL (a ``nextLink``)."""
        from azure.core.rest import HttpRequest

        url = path if path.startswith("https://") else self.base + path
        with azure_errors(operation, propagation):
            request = HttpRequest(
                method,
                url,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"} if body is not None else None,
            )
            response = self._client.send_request(request, **timeouts())
            data = response.read()
            if response.status_code >= 400:
                raise parse_error(response.status_code, data)
            return json.loads(data) if data else None
