"""The etcd key layout, in one place (see ARCHITECTURE.md, "etcd layout")."""

from __future__ import annotations

from dataclasses import dataclass


class InvalidKey(ValueError):
    """A name cannot be used as a key segment."""


def _segment(name: str, what: str) -> str:
    if not name or "/" in name:
        raise InvalidKey(f"{what} {name!r} is not a valid key segment (empty or contains '/')")
    return name


@dataclass(frozen=True)
class Keys:
    """Builds and parses every key under one federation prefix."""

    prefix: str = "/fed"

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise InvalidKey(f"prefix {self.prefix!r} must start with '/' and not end with it")

    def _dir(self, kind: str) -> str:
        return f"{self.prefix}/{kind}/"

    # election and membership
    def leader_prefix(self) -> str:
        return self._dir("leader")

    def leader(self, lease_id: int) -> str:
        return f"{self.leader_prefix()}{lease_id:016x}"

    def proxies_prefix(self) -> str:
        return self._dir("members/proxies")

    def proxy(self, proxy_id: str) -> str:
        return self.proxies_prefix() + _segment(proxy_id, "proxy id")

    def workers_prefix(self) -> str:
        return self._dir("members/workers")

    def worker(self, worker_id: str) -> str:
        return self.workers_prefix() + _segment(worker_id, "worker id")

    def assignments_prefix(self) -> str:
        return self._dir("assignments")

    def assignment(self, worker_id: str) -> str:
        return self.assignments_prefix() + _segment(worker_id, "worker id")

    # clusters
    def clusters_prefix(self) -> str:
        return self._dir("clusters")

    def cluster_spec(self, name: str) -> str:
        return f"{self.clusters_prefix()}{_segment(name, 'cluster')}/spec"

    def cluster_status(self, name: str) -> str:
        return f"{self.clusters_prefix()}{_segment(name, 'cluster')}/status"

    def cluster_health(self, name: str) -> str:
        return f"{self.clusters_prefix()}{_segment(name, 'cluster')}/health"

    def is_cluster_spec(self, key: str) -> bool:
        return key.startswith(self.clusters_prefix()) and key.endswith("/spec")

    def parse_cluster_key(self, key: str) -> tuple[str, str]:
        """`/fed/clusters/<name>/<part>` -> (name, part)."""
        rest = self._strip(key, self.clusters_prefix())
        name, sep, part = rest.partition("/")
        if not sep or not name or not part:
            raise InvalidKey(f"{key!r} is not a cluster key")
        return name, part

    # workloads, reservations, requests, operations
    def workloads_prefix(self, namespace: str | None = None) -> str:
        if namespace is None:
            return self._dir("workloads")
        return f"{self._dir('workloads')}{_segment(namespace, 'namespace')}/"

    def workload(self, namespace: str, name: str) -> str:
        return self.workloads_prefix(namespace) + _segment(name, "workload name")

    def parse_workload_key(self, key: str) -> tuple[str, str]:
        rest = self._strip(key, self.workloads_prefix())
        namespace, sep, name = rest.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise InvalidKey(f"{key!r} is not a workload key")
        return namespace, name

    def reservations_prefix(self, cluster: str | None = None) -> str:
        if cluster is None:
            return self._dir("reservations")
        return f"{self._dir('reservations')}{_segment(cluster, 'cluster')}/"

    def reservation(self, cluster: str, reservation_id: str) -> str:
        return self.reservations_prefix(cluster) + _segment(reservation_id, "reservation id")

    def parse_reservation_key(self, key: str) -> tuple[str, str]:
        rest = self._strip(key, self.reservations_prefix())
        cluster, sep, reservation_id = rest.partition("/")
        if not sep or not cluster or not reservation_id:
            raise InvalidKey(f"{key!r} is not a reservation key")
        return cluster, reservation_id

    def requests_prefix(self) -> str:
        return self._dir("requests")

    def shared_range(self) -> tuple[str, str]:
        """[start, end) of every key under the prefix but the writer's records: requests,
        reservations and workloads, which only the leader's writer changes (in fenced
        transactions), and whose directories sort after every other one."""
        return f"{self.prefix}/", self.requests_prefix()

    def request(self, request_id: str) -> str:
        return self.requests_prefix() + _segment(request_id, "request_id")

    def operations_prefix(self) -> str:
        return self._dir("operations")

    def operation(self, operation_id: str) -> str:
        return self.operations_prefix() + _segment(operation_id, "operation id")

    def last_segment(self, key: str, directory: str) -> str:
        """The name after `directory` in `key`, e.g. a worker id from its member key."""
        return _segment(self._strip(key, directory), "key")

    @staticmethod
    def _strip(key: str, directory: str) -> str:
        if not key.startswith(directory):
            raise InvalidKey(f"{key!r} is not under {directory!r}")
        return key[len(directory) :]
