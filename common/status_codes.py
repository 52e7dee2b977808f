"""gRPC status codes as numbers, the way a message carries them (the worker's Batch results
hold each item's code this way; 0 is OK)."""

from __future__ import annotations

import grpc

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def number(code: grpc.StatusCode) -> int:
    value: int = code.value[0]
    return value


def code_of(value: int) -> grpc.StatusCode:
    """The status code numbered `value` (UNKNOWN for a number gRPC does not define)."""
    return _BY_NUMBER.get(value, grpc.StatusCode.UNKNOWN)
