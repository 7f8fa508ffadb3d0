from __future__ import annotations

import json
import subprocess
import sys

import dynsecrets
import dynsecrets.errors
import dynsecrets.testing

PUBLIC = {
    "Capabilities",
    "Clock",
    "DynSecretsError",
    "Engine",
    "Event",
    "ExpiryWorker",
    "TidyReport",
    "Field",
    "IssueRequest",
    "Issued",
    "Lease",
    "LeaseInfo",
    "LeaseState",
    "ManagedIdentity",
    "ManualClock",
    "Mount",
    "MountInfo",
    "Provider",
    "ProviderContext",
    "ProviderRegistry",
    "RetryPolicy",
    "RevokeSummary",
    "Role",
    "Schema",
    "SecretData",
    "SystemClock",
    "format_duration",
    "parse_duration",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(dynsecrets.__all__) == PUBLIC
    for name in dynsecrets.__all__:
        assert getattr(dynsecrets, name) is not None


def test_every_error_derives_from_the_root() -> None:
    for name in dynsecrets.errors.__all__:
        assert issubclass(getattr(dynsecrets.errors, name), dynsecrets.errors.DynSecretsError), name


def test_testing_kit_exports() -> None:
    for name in dynsecrets.testing.__all__:
        assert getattr(dynsecrets.testing, name) is not None


def test_import_loads_no_cloud_sdk_and_no_pytest() -> None:
    code = (
        "import sys, json, dynsecrets; "
        "e = dynsecrets.Engine.open('memory://'); e.close(); "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {
        "boto3",
        "botocore",
        "google",
        "azure",
        "aliyunsdkcore",
        "aliyunsdkram",
        "psycopg",
        "pytest",
        "cryptography",
    }
    assert not loaded & heavy, loaded & heavy
