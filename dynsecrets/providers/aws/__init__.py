"""AWS provider. boto3 is imported on first use, never at import."""

from __future__ import annotations

from .helpers import boto3_kwargs, credential_process, environ
from .provider import AWSProvider

__all__ = ["AWSProvider", "boto3_kwargs", "credential_process", "environ"]
