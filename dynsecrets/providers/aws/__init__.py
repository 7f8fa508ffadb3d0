"""AWS provider. botocore is imported on first use, never at import (boto3 not at all)."""

from __future__ import annotations

from .helpers import boto3_kwargs, credential_process, environ
from .provider import AWSProvider

__all__ = ["AWSProvider", "boto3_kwargs", "credential_process", "environ"]
