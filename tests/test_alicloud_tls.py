"""TLS trust stays with the mount that configured it, in one process. The SDK's own
transport shares one TLS context per endpoint and loads every CA bundle it is given
into it; the provider's transport has a context per CA bundle (issue 16)."""

from __future__ import annotations

from dynsecrets import Engine, Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ali, ali_clock, ali_engine, sdk_call  # noqa: F401


def _mount(engine: Engine, ali: FakeAliCloud, path: str, *, ca: bool) -> Mount:
    config = ali.config()
    if not ca:
        del config["ca_bundle"]
    mount = engine.enable(path, "alicloud")
    mount.configure(**config)
    mount.write_role("r", inline_policies=OSS_POLICY)
    return mount


def _refused(mount: Mount) -> str | None:
    try:
        mount.issue("r")
    except PermanentProviderError as exc:
        return exc.code
    return None


def test_a_mounts_ca_is_not_trusted_by_another_mount(ali_engine: Engine, ali: FakeAliCloud) -> None:
    trusting = _mount(ali_engine, ali, "trusting", ca=True)
    plain = _mount(ali_engine, ali, "plain", ca=False)
    assert trusting.issue("r").lease_id
    assert _refused(plain) == "CertificateVerifyFailed"
    assert trusting.issue("r").lease_id  # and the other way round
    assert _refused(plain) == "CertificateVerifyFailed"
    assert len(ali.managed_users()) == 2


def test_the_applications_own_sdk_clients_do_not_lend_their_trust(
    ali_engine: Engine, ali: FakeAliCloud
) -> None:
    # The application talks to the same endpoint with the SDK's defaults and the CA.
    assert sdk_call(ali, "GetCallerIdentity")["IdentityType"] == "RAMUser"
    plain = _mount(ali_engine, ali, "plain", ca=False)
    assert _refused(plain) == "CertificateVerifyFailed"
    assert ali.managed_users() == []
