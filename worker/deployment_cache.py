"""The federation's Deployments in one cluster, as a list + watch keeps them (worker.informer).

Status checks read them here instead of asking the API server: the binder checks each part it
follows until it is Ready, and the leader's drift check every settled part once a period, so a
GET per check would load each member cluster's API server in step with the workloads it runs.
A Deployment not found here is read from the API server: one just created may not have
arrived yet, and one deleted by hand must be seen to be gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.model import Deployment, EventType


class DeploymentCache:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Deployment] = {}

    def replace(self, deployments: Iterable[Deployment]) -> None:
        self._items = {(item.namespace, item.name): item for item in deployments}

    def apply(self, kind: EventType, deployment: Deployment) -> None:
        key = (deployment.namespace, deployment.name)
        if kind is EventType.DELETED:
            self._items.pop(key, None)
        else:
            self._items[key] = deployment

    def get(self, namespace: str, name: str) -> Deployment | None:
        """The Deployment as last listed or watched; None when it is not known here."""
        return self._items.get((namespace, name))
