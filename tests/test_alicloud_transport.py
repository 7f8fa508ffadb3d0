"""The AliCloud transport: HTTPS_PROXY (with or without scheme and credentials) and
NO_PROXY as the environment sets them; answers that are not Alibaba's (a proxy's
page, an empty or cut body); unusable settings, refused and silent endpoints, a
failed credential refresh and a certificate for another host, each a typed error;
a probe's connections closed with it, and nobody else's."""

from __future__ import annotations

import base64
import http.server
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynsecrets.clock import ManualClock
from dynsecrets.errors import PermanentProviderError, TransientProviderError
from dynsecrets.providers.alicloud import api, transport
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
        lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        self.server.auth.append(
            fields.get("Proxy-Authorization", fields.get("proxy-authorization"))
        )
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
        self.auth: list[str | None] = []


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _use_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """``HTTPS_PROXY=url``, and no other proxy setting of the machine's."""
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", url)


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
    _use_proxy(monkeypatch, f"http://127.0.0.1:{proxy.server_address[1]}")
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


def test_a_probe_closes_its_own_connections_and_no_one_elses(ali: FakeAliCloud) -> None:
    clients = api.Clients()
    root = ali.config()
    retry = RetryPolicy(clock=ManualClock(0.0))
    mounts = api.Api(clients, retry, root)
    assert mounts.call("GetCallerIdentity")["IdentityType"] == "RAMUser"
    shared = mounts._client["sts"]
    opened: list[transport.Transport] = []
    real = clients.get

    def spy(*args: object, **kwargs: object) -> transport.Transport:
        made = real(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(made)
        return made

    clients.get = spy  # type: ignore[method-assign]
    # The probe's key is the root key itself (a static role on the mount's own user
    # is refused, but a probe must not rely on that): its transport is still its own.
    prove_key(clients, retry, root, root["access_key"], root["secret_key"])
    assert len(opened) == 1 and opened[0] is not shared
    assert opened[0].pool.pool is None  # closed: urllib3 drops the queue on close
    assert mounts.call("GetCallerIdentity")["IdentityType"] == "RAMUser"


def test_clear_leaves_calls_in_progress_working(ali: FakeAliCloud) -> None:
    clients = api.Clients()
    ours = api.Api(clients, RetryPolicy(clock=ManualClock(0.0)), ali.config())
    ours.call("GetCallerIdentity")
    clients.clear()  # a provider closing, or the root key rotated, in another thread
    assert ours.call("GetCallerIdentity")["IdentityType"] == "RAMUser"
    fresh = api.Api(clients, RetryPolicy(clock=ManualClock(0.0)), ali.config())
    fresh.call("GetCallerIdentity")
    assert fresh._client["sts"] is not ours._client["sts"]


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


def test_a_proxy_url_without_scheme_and_with_credentials(
    ali: FakeAliCloud, proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As requests reads it: no scheme means http://; user:password@ is sent as
    # Proxy-Authorization (percent-escapes undone).
    _use_proxy(monkeypatch, f"ops:p%40ss@127.0.0.1:{proxy.server_address[1]}")
    assert _whoami(ali.config()) == "RAMUser"
    assert proxy.targets == [ali.endpoint]
    assert proxy.auth == ["Basic " + base64.b64encode(b"ops:p@ss").decode()]


@pytest.mark.parametrize(
    ("setting", "code", "names"),
    [
        ({"HTTPS_PROXY": "socks5://127.0.0.1:1080"}, "InvalidProxy", "HTTPS_PROXY"),
        ({"HTTPS_PROXY": "http://[bad"}, "InvalidProxy", "HTTPS_PROXY"),
        ({"sts_endpoint": "127.0.0.1:notaport"}, "InvalidEndpoint", "127.0.0.1:notaport"),
        ({"ca_bundle": "GONE"}, "InvalidCaBundle", "ca_bundle"),
    ],
)
def test_an_unusable_transport_setting_is_a_typed_error_naming_it(
    ali: FakeAliCloud,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setting: dict[str, str],
    code: str,
    names: str,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    config = ali.config()
    for key, value in setting.items():
        if key.isupper():
            monkeypatch.setenv(key, value)
        elif value == "GONE":  # valid when configured, deleted since
            config[key] = str(tmp_path / "ca.pem")
        else:
            config[key] = value
    with pytest.raises(PermanentProviderError) as refused:
        _call(config, RetryPolicy(clock=ManualClock(0.0)))
    assert refused.value.code == code
    assert names in str(refused.value)


@pytest.mark.parametrize(
    ("host", "split"),
    [
        ("ram.aliyuncs.com", ("ram.aliyuncs.com", 443)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("[::1]", ("::1", 443)),
        ("[::1]:8443", ("::1", 8443)),
        ("::1", ("::1", 443)),
    ],
)
def test_endpoints_split_into_name_and_port(host: str, split: tuple[str, int]) -> None:
    assert transport.split_host(host) == split


class _Failing:
    """A credential provider (the SDK's interface) whose refresh fails with its own
    error type, as an ECS RAM role's does when the metadata service is down."""

    def get_credentials(self) -> object:
        raise RuntimeError("metadata service unreachable")

    def get_provider_name(self) -> str:
        return "ecs_ram_role"


def test_a_failed_credential_refresh_is_transient(ali: FakeAliCloud) -> None:
    from alibabacloud_credentials.client import Client as CredentialClient

    clients = api.Clients()
    made = transport.Transport(
        ali.endpoint, credential=CredentialClient(provider=_Failing()), ca_bundle=ali.ca_bundle
    )
    clients._cache[("sts", None, None, ali.endpoint, ali.ca_bundle)] = made
    config = {k: v for k, v in ali.config().items() if k not in ("access_key", "secret_key")}
    with pytest.raises(TransientProviderError) as failed:
        api.Api(clients, RetryPolicy(clock=ManualClock(0.0), budget=0.0), config).attempt(
            "GetCallerIdentity"
        )
    assert failed.value.code == "CredentialRefreshFailed"
    assert ali.faults.calls == []


def test_a_certificate_for_another_host_says_so(ali: FakeAliCloud) -> None:
    # The fake's certificate names 127.0.0.1 and localhost; "127.1" reaches the same
    # address (inet_aton) but is checked as a host name.
    config = {**ali.config(), "sts_endpoint": ali.endpoint.replace("127.0.0.1", "127.1")}
    with pytest.raises(PermanentProviderError) as refused:
        _call(config, RetryPolicy(clock=ManualClock(0.0)))
    assert refused.value.code == "CertificateVerifyFailed"
    assert "another host" in str(refused.value)


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's canned status and body."""

    server: _CannedServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _CannedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    answer: tuple[int, bytes] = (200, b"")


@pytest.fixture
def canned(tmp_path: Path) -> Iterator[tuple[_CannedServer, dict[str, str]]]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = _CannedServer(("127.0.0.1", 0), _Canned)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"127.0.0.1:{server.server_address[1]}"
    config = {
        "access_key": "LTAI" + "x" * 20,
        "secret_key": "s" * 30,
        "ram_endpoint": endpoint,
        "sts_endpoint": endpoint,
        "ca_bundle": str(tmp_path / "ca.pem"),
    }
    yield server, config
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (200, b"", TransientProviderError, "LastResponseInvalid"),
        (200, b"[]", TransientProviderError, "LastResponseInvalid"),
        (200, b"null", TransientProviderError, "LastResponseInvalid"),
        (
            200,
            b'{"AccessKey": {"AccessKeyId": "LTAI',
            TransientProviderError,
            "LastResponseInvalid",
        ),
        (502, b"<html>Bad Gateway</html>", TransientProviderError, "HTTP502"),
        (407, b"Proxy Authentication Required", PermanentProviderError, "HTTP407"),
        (400, b'{"Code": "InvalidParameter.UserName"}', PermanentProviderError, None),
    ],
)
def test_answers_that_are_not_alibabas_are_typed_on_the_wire(
    canned: tuple[_CannedServer, dict[str, str]],
    status: int,
    body: bytes,
    kind: type[Exception],
    code: str | None,
) -> None:
    server, config = canned
    server.answer = (status, body)
    clients = api.Clients()
    with pytest.raises(kind) as answered:
        api.Api(clients, RetryPolicy(clock=ManualClock(0.0), budget=0.0), config).attempt(
            "CreateAccessKey", {"UserName": "u"}
        )
    assert answered.value.code == (code or "InvalidParameter.UserName")  # type: ignore[attr-defined]
    assert answered.value.operation == "CreateAccessKey"  # type: ignore[attr-defined]
