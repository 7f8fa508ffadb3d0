"""The resource-type table: from a binding's resource name to the service and
REST (or gRPC) methods that read and write its IAM policy.

A binding names a resource by its full name (``//storage.googleapis.com/buckets/b``,
``//pubsub.googleapis.com/projects/p/topics/t``) or, as Vault allows, by its
relative name (``projects/p/topics/t``, ``buckets/b``) when only one type matches.
Vault's table has 263 types; this one covers the 26 most used (the list below)
and a new one is one line: its service, the pattern of its relative name, its
API version path, and how the service spells getIamPolicy (``post``: POST with
``options`` in the body; ``get``: GET with ``options.requestedPolicyVersion``).
"""

from __future__ import annotations

import re

import attrs

from ...errors import ValidationError

__all__ = ["TYPES", "Resource", "ResourceType", "resolve", "supported"]


@attrs.frozen
class ResourceType:
    name: str
    service: str  # the API host's first label, and the ``endpoints`` key
    pattern: str  # the relative resource name, {x} = one segment
    prefix: str  # the REST path before the relative name ("v1", "bigquery/v2")
    style: str  # "v3" (resourcemanager), "post", "get", "storage", "compute", "grpc"

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\{[a-z_]+\}", "[^/]+", self.pattern))


_T = ResourceType
TYPES: tuple[ResourceType, ...] = (
    _T("project", "cloudresourcemanager", "projects/{p}", "v3", "v3"),
    _T("folder", "cloudresourcemanager", "folders/{f}", "v3", "v3"),
    _T("organization", "cloudresourcemanager", "organizations/{o}", "v3", "v3"),
    _T("service account", "iam", "projects/{p}/serviceAccounts/{a}", "", "grpc"),
    _T("storage bucket", "storage", "b/{b}", "storage/v1", "storage"),
    _T("pubsub topic", "pubsub", "projects/{p}/topics/{t}", "v1", "get"),
    _T("pubsub subscription", "pubsub", "projects/{p}/subscriptions/{s}", "v1", "get"),
    _T("pubsub snapshot", "pubsub", "projects/{p}/snapshots/{s}", "v1", "get"),
    _T("bigquery dataset", "bigquery", "projects/{p}/datasets/{d}", "bigquery/v2", "post"),
    _T("bigquery table", "bigquery", "projects/{p}/datasets/{d}/tables/{t}", "bigquery/v2", "post"),
    _T("secret manager secret", "secretmanager", "projects/{p}/secrets/{s}", "v1", "get"),
    _T("kms key ring", "cloudkms", "projects/{p}/locations/{l}/keyRings/{k}", "v1", "get"),
    _T(
        "kms crypto key",
        "cloudkms",
        "projects/{p}/locations/{l}/keyRings/{k}/cryptoKeys/{c}",
        "v1",
        "get",
    ),
    _T("cloud run service", "run", "projects/{p}/locations/{l}/services/{s}", "v2", "get"),
    _T("cloud run job", "run", "projects/{p}/locations/{l}/jobs/{j}", "v2", "get"),
    _T("cloud function", "cloudfunctions", "projects/{p}/locations/{l}/functions/{f}", "v2", "get"),
    _T(
        "artifact registry repository",
        "artifactregistry",
        "projects/{p}/locations/{l}/repositories/{r}",
        "v1",
        "get",
    ),
    _T("spanner instance", "spanner", "projects/{p}/instances/{i}", "v1", "post"),
    _T("spanner database", "spanner", "projects/{p}/instances/{i}/databases/{d}", "v1", "post"),
    _T("bigtable instance", "bigtableadmin", "projects/{p}/instances/{i}", "v2", "post"),
    _T("bigtable table", "bigtableadmin", "projects/{p}/instances/{i}/tables/{t}", "v2", "post"),
    _T(
        "compute instance",
        "compute",
        "projects/{p}/zones/{z}/instances/{i}",
        "compute/v1",
        "compute",
    ),
    _T(
        "compute subnetwork",
        "compute",
        "projects/{p}/regions/{r}/subnetworks/{s}",
        "compute/v1",
        "compute",
    ),
    _T("cloud tasks queue", "cloudtasks", "projects/{p}/locations/{l}/queues/{q}", "v2", "post"),
    _T("dataproc cluster", "dataproc", "projects/{p}/regions/{r}/clusters/{c}", "v1", "post"),
    _T("healthcare dataset", "healthcare", "projects/{p}/locations/{l}/datasets/{d}", "v1", "get"),
    _T("source repository", "sourcerepo", "projects/{p}/repos/{r}", "v1", "get"),
)


@attrs.frozen
class Resource:
    """One resolved binding target."""

    type: ResourceType
    path: str  # relative name as its API spells it

    @property
    def full_name(self) -> str:
        path = self.path
        if self.type.style == "storage":
            path = "buckets/" + path.removeprefix("b/")
        return f"//{self.type.service}.googleapis.com/{path}"


def supported() -> str:
    return ", ".join(f"{t.name} (//{t.service}.googleapis.com/{t.pattern})" for t in TYPES)


def _short(path: str) -> str:
    # Vault's and Cloud Storage's spellings of a bucket.
    if path.startswith("projects/_/buckets/"):
        return "b/" + path.removeprefix("projects/_/buckets/")
    if path.startswith("buckets/"):
        return "b/" + path.removeprefix("buckets/")
    return path


def resolve(name: str) -> Resource:
    """The resource a binding names; ValidationError('bindings') if none or ambiguous."""
    name = name.strip()
    service = None
    path = name
    if name.startswith("//"):
        host, _, path = name[2:].partition("/")
        if not host.endswith(".googleapis.com"):
            raise ValidationError(
                "bindings", f"{name!r}: a full resource name starts //<service>.googleapis.com/"
            )
        service = host.removesuffix(".googleapis.com")
    elif name.startswith(("https://", "http://")):
        raise ValidationError(
            "bindings", f"{name!r}: give a resource name (//service.googleapis.com/...), not a URL"
        )
    path = _short(path.strip("/"))
    found = [
        t for t in TYPES if (service is None or t.service == service) and t.regex.fullmatch(path)
    ]
    if not found:
        raise ValidationError(
            "bindings",
            f"{name!r} is not a supported resource type; supported: {supported()}. "
            "Ask for a new type (see dynsecrets/providers/gcp/resources.py)",
        )
    if len(found) > 1:
        options = ", ".join(f"//{t.service}.googleapis.com/{path}" for t in found)
        raise ValidationError(
            "bindings", f"{name!r} is ambiguous; write the full name, one of: {options}"
        )
    return Resource(found[0], path)
