"""The one kind of error fedctl reports: a readable line on stderr and exit code 1."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing failure; its text is printed as is after `error: `."""
