"""The AliCloud transport: HTTPS_PROXY and NO_PROXY as the environment sets them,
answers that are not Alibaba's (a proxy's page, a cut body), and connections a
key probe opened closed with it."""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from dynsecrets.clock import ManualClock
from dynsecrets.errors import PermanentProviderError, TransientProviderError
from dynsecrets.providers.alicloud import api, transport
from dynsecrets.providers.alicloud.errors import map_error
from dynsecrets.providers.alicloud.proof import prove_key
from dynsecrets.retry import RetryPolicy
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import ali  # noqa: F401


class _Tunnel(socketserver.BaseRequestHandler):
    """An HTTP CONNECT proxy: records the target, then copies bytes both ways."""

    server: _Proxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.targets.append(target)
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            while True:
                readable, _, _ = select.select(ends, [], [])
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.targets: list[str] = []


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _whoami(config: dict[str, str]) -> str:
    clients = api.Clients()
    try:
        who = api.Api(clients, RetryPolicy(clock=ManualClock(0.0)), config).call(
            "GetCallerIdentity"
        )
    finally:
        clients.clear()
    return str(who["IdentityType"])


def test_https_proxy_from_the_environment_tunnels_the_calls(
    ali: FakeAliCloud, proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    assert _whoami(ali.config()) == "RAMUser"
    # Through the proxy, and still TLS to the fake end to end (its CA, its signature
    # check): the proxy only saw where to connect.
    assert proxy.targets == [ali.endpoint]


def test_no_proxy_names_hosts_reached_directly(
    ali: FakeAliCloud, proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _whoami(ali.config()) == "RAMUser"
    assert proxy.targets == []


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (502, b"<html>Bad Gateway</html>", TransientProviderError, "HTTP502"),
        (403, b"blocked by policy", PermanentProviderError, "HTTP403"),
        (400, b'{"Code": "InvalidParameter.UserName"}', PermanentProviderError, None),
        (503, b'{"Code": "ServiceUnavailable", "RequestId": "R1"}', TransientProviderError, None),
    ],
)
def test_an_answer_without_alibabas_error_body_is_still_typed(
    status: int, body: bytes, kind: type[Exception], code: str | None
) -> None:
    err = map_error(transport._error(status, body), "CreateUser")
    assert isinstance(err, kind)
    assert err.code == (code or err.code) and err.code != "None"
    assert err.operation == "CreateUser"


def test_a_cut_or_foreign_success_body_is_transient() -> None:
    # A create whose answer cannot be read may have run: retried, and reconciled.
    err = map_error(transport.ApiError(200, "LastResponseInvalid", None), "CreateUser")
    assert isinstance(err, TransientProviderError)


def test_a_probe_closes_the_connections_its_key_opened(ali: FakeAliCloud) -> None:
    clients = api.Clients()
    opened: list[transport.Transport] = []
    real = clients.get

    def spy(*args: object, **kwargs: object) -> transport.Transport:
        made = real(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(made)
        return made

    clients.get = spy  # type: ignore[method-assign]
    root = ali.config()
    prove_key(
        clients, RetryPolicy(clock=ManualClock(0.0)), root, root["access_key"], root["secret_key"]
    )
    assert len(opened) == 1
    assert opened[0].pool.pool is None  # closed: urllib3 drops the queue on close


def _call(config: dict[str, str], retry: RetryPolicy) -> None:
    clients = api.Clients()
    try:
        api.Api(clients, retry, config).attempt("GetCallerIdentity")
    finally:
        clients.clear()


def test_nothing_listening_is_a_permanent_error_naming_the_endpoint(ali: FakeAliCloud) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    config = {**ali.config(), "sts_endpoint": f"127.0.0.1:{port}"}
    with pytest.raises(PermanentProviderError) as refused:
        _call(config, RetryPolicy(clock=ManualClock(0.0)))
    assert refused.value.code == "ConnectionRefused"
    assert "sts_endpoint" in str(refused.value)


def test_an_endpoint_that_never_answers_times_out_within_the_deadline(
    ali: FakeAliCloud,
) -> None:
    # Accepts the connection, then says nothing (not even the TLS handshake): the
    # call's timeouts come from what is left of the operation's deadline.
    from dynsecrets.clock import SystemClock
    from dynsecrets.retry import operation_deadline

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        config = {**ali.config(), "sts_endpoint": f"127.0.0.1:{silent.getsockname()[1]}"}
        with (
            operation_deadline(0.3, SystemClock(), "issue"),
            pytest.raises(TransientProviderError) as silent_error,
        ):
            _call(config, RetryPolicy())
    assert silent_error.value.code == "EndpointConnectionError"
    assert silent_error.value.operation == "GetCallerIdentity"
