"""The event loop every serving process runs on: uvloop's.

The proxy and the worker spend most of their CPU in grpc.aio, whose completions reach
Python as event loop callbacks, tasks and futures; uvloop runs those for less. Measured
with tools/bench/placement.py on the 2-core machine: a bare grpc.aio echo server costs ~10%
less CPU per call on uvloop (316-342 -> 284-308 us), the proxy ~6% less per placement
(665-720 -> 629-666 us).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a uvloop event loop."""
    return uvloop.run(main)
