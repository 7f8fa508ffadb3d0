"""``AWSFaults``: AWS error responses, lost replies and crashes injected into boto3
clients through botocore's event hooks. Importable from :mod:`dynsecrets.testing.aws`."""

from __future__ import annotations

from typing import Any

__all__ = ["AWSFaults"]


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


class AWSFaults:
    """Fault injection for boto3 clients through botocore's own event hooks.

    ``error(op, code)`` answers the next call of ``op`` with an AWS error response
    (the request never leaves the process); ``requests`` holds each call's
    serialized parameters (moto ignores some, such as permissions boundaries);
    ``after(op, fn)`` runs ``fn`` once
    ``op`` has succeeded at the server (raise from it to simulate a crash right
    after that call). ``calls`` lists every operation in order.

        faults = AWSFaults()
        mount.provider.clients.instrument(faults.attach)
        faults.error("CreateAccessKey", "AccessDenied")
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._errors: list[list[Any]] = []
        self._after: list[list[Any]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after_call)

    def error(
        self,
        operation: str,
        code: str,
        *,
        status: int = 400,
        times: int = 1,
        message: str = "injected by AWSFaults",
    ) -> None:
        self._errors.append([operation, code, status, times, message])

    def after(self, operation: str, fn: Any, *, nth: int = 1) -> None:
        self._after.append([operation, fn, nth])

    def lose_reply(self, operation: str, *, nth: int = 1) -> None:
        """The ``nth`` call of ``operation`` takes effect at the server, then its reply
        is lost (the connection drops), as a flaky network does."""

        def drop() -> None:
            from botocore.exceptions import ConnectionClosedError

            raise ConnectionClosedError(endpoint_url=f"lost reply to {operation}")

        self.after(operation, drop, nth=nth)

    def clear(self) -> None:
        self._errors.clear()
        self._after.clear()

    def _before(self, model: Any, params: Any = None, **_: Any) -> Any:
        self.calls.append(model.name)
        self.requests.append((model.name, dict((params or {}).get("body") or {})))
        for entry in self._errors:
            op, code, status, times, message = entry
            if op == model.name and times > 0:
                entry[3] -= 1
                return _Http(status), {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
        return None

    def _after_call(self, model: Any, http_response: Any, **_: Any) -> None:
        if getattr(http_response, "status_code", 500) >= 300:
            return
        for entry in self._after:
            op, fn, _ = entry
            if op == model.name:
                entry[2] -= 1
                if entry[2] == 0:
                    fn()
