"""The Proxy service (see ARCHITECTURE.md)."""
