"""The Python client of the federation, for PaaS callers and fedctl.

async with FederationClient(["127.0.0.1:7000", "127.0.0.1:7001"]) as fed:
    workload = await fed.place(spec)
"""

from client.federation import FederationClient, FederationError

__all__ = ["FederationClient", "FederationError"]
