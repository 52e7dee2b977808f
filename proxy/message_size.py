"""How much one gRPC message that the proxy sends may hold."""

MESSAGE_BYTES = 3 * 1024 * 1024
"""Under gRPC's default 4 MiB limit on a received message, with room for its framing: a
larger message fails at the receiver as a whole (every write of a batch, a whole page)."""
