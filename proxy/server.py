"""One proxy replica: cache, gRPC server (API, health, reflection), registration, election.

Every replica serves reads and registers under a lease; all campaign, and the winner runs
the leader duties until it loses the leadership, then campaigns again. gRPC health says
SERVING for `fed.v1.Federation` on every replica and for `fed.v1.FederationLeader` only on
the leader.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from importlib.metadata import version

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from common import retry
from common.cancellation import cancel_and_wait
from common.election import Election
from common.etcd_store import EtcdStore
from common.grpc_server import GenericHandlerServer
from common.keys import Keys
from common.membership import Registration
from common.metrics import MetricsServer, start_metrics_server
from fed.v1 import federation_pb2, federation_pb2_grpc, replica_pb2, replica_pb2_grpc, types_pb2
from proxy.cache import FedCache
from proxy.leader import LeaderDuties
from proxy.replica_service import ReplicaService
from proxy.routing import WorkerRouter
from proxy.scheduler.engine import Engine
from proxy.service import FederationService, cluster_info
from proxy.settings import ProxySettings

_log = logging.getLogger(__name__)
SERVICE = federation_pb2.DESCRIPTOR.services_by_name["Federation"].full_name
REPLICA_SERVICE = replica_pb2.DESCRIPTOR.services_by_name["Replica"].full_name
LEADER_SERVICE = "fed.v1.FederationLeader"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ProxyNode:
    def __init__(self, settings: ProxySettings, endpoints: list[str]) -> None:
        self.all_settings = settings
        self.settings = settings.proxy
        self.proxy_id = settings.proxy.id or f"{socket.gethostname()}-{os.getpid()}"
        self.keys = Keys(settings.etcd.prefix)
        self.store = EtcdStore(
            endpoints,
            timeout_s=settings.etcd.request_timeout_s,
            max_txn_ops=settings.etcd.max_txn_ops,
            max_request_bytes=settings.etcd.max_request_bytes,
            retry_policy=settings.retry,
        )
        self.cache = FedCache(self.store, self.keys, settings.retry)
        self.engine = Engine(settings.scheduling_policies())
        channel_options = retry.channel_options(settings.retry)
        self.router = WorkerRouter(
            self.cache,
            channel_options,
            batch_window_s=settings.proxy.bind_batch_window_ms / 1000,
            timeout_s=settings.proxy.worker_timeout_s,
        )
        self.duties: LeaderDuties | None = None
        self.address = ""
        self._service = FederationService(self, channel_options)
        self._health = HealthServicer()
        self._server = GenericHandlerServer()
        self._metrics: MetricsServer | None = None
        self._registration: Registration | None = None
        self._leading: asyncio.Task[None] | None = None

    def reload(self, settings: ProxySettings) -> list[str]:
        """Take the named policies of freshly loaded settings (the rest needs a restart);
        raises SettingsError and keeps the policies in force when they are not valid."""
        self.engine.set_policies(settings.scheduling_policies())
        self.all_settings.policies = settings.policies
        return sorted(self.engine.policies)

    def leader_address(self) -> str | None:
        leader = self.cache.view.leader
        if leader is None or leader.record.proxy_id == self.proxy_id:
            return None
        return leader.record.address or None

    async def start(self) -> None:
        await self.store.connect()
        await self.cache.start()
        federation_pb2_grpc.add_FederationServicer_to_server(self._service, self._server)
        replica_pb2_grpc.add_ReplicaServicer_to_server(
            ReplicaService(self._service, self.store), self._server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE, REPLICA_SERVICE,
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            self._server,
        )  # fmt: skip
        host = self.settings.listen.rsplit(":", 1)[0]
        port = self._server.add_insecure_port(self.settings.listen)
        self.address = f"{host}:{port}"
        await self._server.start()
        observability = self.all_settings.observability
        self._metrics = start_metrics_server(observability.metrics_host, observability.metrics_port)
        await self._health.set(SERVICE, _SERVING)
        await self._health.set(LEADER_SERVICE, _NOT_SERVING)
        record = types_pb2.MemberRecord(
            id=self.proxy_id,
            address=self.address,
            version=version("fedproxy"),
            metrics_address=f"{self._metrics.host}:{self._metrics.port}",
        )
        self._registration = await Registration.register(
            self.store, self.keys.proxy(self.proxy_id), record, self.settings.member_ttl_s
        )
        self._leading = asyncio.create_task(self._lead_forever(), name="leadership")
        _log.info("proxy serving", extra={"id": self.proxy_id, "address": self.address})

    async def _lead_forever(self) -> None:
        value = types_pb2.LeaderRecord(proxy_id=self.proxy_id, address=self.address)
        election = Election(
            self.store, self.keys, self.all_settings.election, value=value.SerializeToString()
        )
        while True:
            leadership = await election.campaign()
            duties = LeaderDuties(
                leadership,
                self.store,
                self.keys,
                self.cache,
                self.engine,
                self.router,
                self.settings,
                self.all_settings.failover,
                self.all_settings.rebalance,
                lambda name: cluster_info(self, name) or federation_pb2.ClusterInfo(),
            )
            try:
                await duties.start()
                self.duties = duties
                await self._health.set(LEADER_SERVICE, _SERVING)
                reason = await leadership.wait_lost()
                _log.warning("leadership lost", extra={"reason": reason})
            finally:
                self.duties = None
                self.engine.last_scores.clear()
                await self._health.set(LEADER_SERVICE, _NOT_SERVING)
                await duties.stop()
                await asyncio.shield(leadership.resign())

    async def stop(self, grace_s: float = 5.0) -> None:
        """Graceful: resign (a successor takes over at once), drain calls, deregister."""
        await self._health.enter_graceful_shutdown()
        if self._leading is not None:
            await cancel_and_wait(self._leading)
        await self._server.stop(grace_s)
        if self._registration is not None:
            await self._registration.deregister()
        await self._service.close()
        await self.router.close()
        await self.cache.stop()
        await self.store.close()
        if self._metrics is not None:
            self._metrics.close()
