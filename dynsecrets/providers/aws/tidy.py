"""Tidy: the IAM users a mount created that still exist, found by name prefix and tags."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...providers.base import ManagedIdentity
from ...retry import RetryPolicy
from . import iam_user
from .names import static_prefix


def list_managed(
    iam: Any, retry: RetryPolicy, config: Mapping[str, Any], mount: str
) -> list[ManagedIdentity]:
    prefix = static_prefix(config["username_template"])
    found: list[ManagedIdentity] = []
    users: list[dict[str, Any]] = []

    def list_users() -> None:
        users.clear()
        for page in iam.get_paginator("list_users").paginate():
            users.extend(page.get("Users", []))

    iam_user.call(retry, "ListUsers", list_users)
    for user in users:
        if not user["UserName"].startswith(prefix):
            continue
        tags = iam_user.call(
            retry,
            "ListUserTags",
            functools.partial(iam.list_user_tags, UserName=user["UserName"]),
        )
        tag = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        if tag.get(iam_user.TAG_MOUNT) == mount and tag.get(iam_user.TAG_MANAGED) == "true":
            found.append(
                ManagedIdentity(
                    id=user["UserName"],
                    lease_id=tag.get(iam_user.TAG_LEASE),
                    store_id=tag.get(iam_user.TAG_STORE),
                    created_at=user["CreateDate"].timestamp(),
                    details={"path": user.get("Path", "/")},
                )
            )
    return found
