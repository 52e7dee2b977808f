"""API errors: a gRPC status code and a message that names the field or the cause."""

from __future__ import annotations

import re

import grpc

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(field: str, message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {message}")


def not_found(what: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, f"{what} not found")


def check_name(field: str, value: str) -> None:
    """A Kubernetes DNS-1123 label: what namespaces, workload and cluster names must be."""
    if not value:
        raise invalid(field, "required")
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise invalid(field, f"{value!r} is not a DNS-1123 label (a-z, 0-9, '-', max 63)")


def check_request_id(value: str) -> None:
    if not value:
        raise invalid("request_id", "required on every mutating call (exactly-once)")
    if "/" in value or len(value) > 128:
        raise invalid("request_id", "at most 128 characters, no '/'")
