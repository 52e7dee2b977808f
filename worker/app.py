"""A running worker: etcd connection, gRPC server (health, reflection), metrics, agent."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.etcd_store import EtcdStore
from common.grpc_server import GenericHandlerServer
from common.keys import Keys
from common.metrics import MetricsServer, start_metrics_server
from fed.v1 import worker_pb2, worker_pb2_grpc
from worker.agent import Agent
from worker.cluster import WorkerContext
from worker.server import WorkerService
from worker.settings import WorkerSettings

_log = logging.getLogger(__name__)
SERVICE = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name


def default_worker_id() -> str:
    return f"worker-{socket.gethostname()}-{os.getpid()}"


class WorkerApp:
    """`await app.start()`, then `await app.stop()` (deregisters and drains the server)."""

    def __init__(self, settings: WorkerSettings) -> None:
        if not settings.etcd.endpoints:
            raise ValueError("etcd.endpoints: the worker needs etcd endpoints (--etcd)")
        section = settings.worker
        self.settings = settings
        self.worker_id = section.id or default_worker_id()
        self.store = EtcdStore(
            settings.etcd.endpoints,
            timeout_s=settings.etcd.request_timeout_s,
            max_txn_ops=settings.etcd.max_txn_ops,
            max_request_bytes=settings.etcd.max_request_bytes,
            retry_policy=settings.retry,
        )
        self.pool = ThreadPoolExecutor(section.kube_threads, thread_name_prefix="kube")
        self.watch_pool = ThreadPoolExecutor(section.watch_threads, thread_name_prefix="watch")
        self.server: grpc.aio.Server | None = None
        self.health: health.aio.HealthServicer | None = None
        self.address = ""
        self.metrics: MetricsServer | None = None
        self.agent: Agent | None = None

    async def start(self) -> None:
        settings = self.settings
        observability = settings.observability
        self.metrics = start_metrics_server(observability.metrics_host, observability.metrics_port)
        await self.store.connect()
        self.server = server = GenericHandlerServer()
        self.health = health_servicer = health.aio.HealthServicer()
        host, _, port = settings.worker.listen.rpartition(":")
        bound = server.add_insecure_port(f"{host}:{port}")
        self.address = f"{host}:{bound}"
        ctx = WorkerContext(
            self.worker_id,
            settings,
            self.store,
            Keys(settings.etcd.prefix),
            self.pool,
            self.watch_pool,
        )
        self.agent = Agent(ctx, self.address, f"{self.metrics.host}:{self.metrics.port}")
        self._add_services(server, health_servicer, self.agent)
        await server.start()
        await self.agent.start()
        for service in ("", SERVICE):
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        _log.info(
            "worker serving",
            extra={"worker": self.worker_id, "address": self.address, "metrics": self.metrics.url},
        )

    @staticmethod
    def _add_services(
        server: grpc.aio.Server, health_servicer: health.aio.HealthServicer, agent: Agent
    ) -> None:
        worker_pb2_grpc.add_WorkerServicer_to_server(WorkerService(agent), server)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        if self.agent is not None:
            await self.agent.stop()
        if self.server is not None:
            await self.server.stop(grace_s)
        await self.store.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.watch_pool.shutdown(wait=False, cancel_futures=True)
        if self.metrics is not None:
            self.metrics.close()
        _log.info("worker stopped", extra={"worker": self.worker_id})


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Run a worker until `stop` is set."""
    app = WorkerApp(settings)
    try:
        await app.start()
        await stop.wait()
    finally:
        await app.stop()
