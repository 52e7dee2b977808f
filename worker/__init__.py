"""The Worker service (see ARCHITECTURE.md)."""
