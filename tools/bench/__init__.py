"""Benchmarks: each prints its figures, the last line one JSON object. None runs against
compiled extensions built from other sources than the tree's (tools/native.py)."""

from tools import native

native.require_fresh()
