"""Placements per second and latency through a real proxy, as a ratio to a bare echo server.

One run starts an embedded etcd, a fleet of cluster records whose status heartbeats a
process of its own publishes as workers would (tools.bench.fleet_status; no workers run, so
nothing is bound), one fed-proxy process and a bare grpc.aio echo server process. The same
asyncio load generator drives both: closed loop with N concurrent clients (throughput,
latency), then open loop at a fixed rate against both (latency at that rate; the echo's is
the floor of the transport and the load generator on this machine). The ratio to echo is to
the bare echo on asyncio's default loop; the echo is also measured on the proxy's own
transport (uvloop, generic handlers only), and the ratio to that one shows what the proxy
adds to the transport alone. Each server's `server_loop_busy` is the share of the run its
event loop (main thread) was on a CPU, and `server_loop_waiting_cpu` the share it was ready
to run but waited for a CPU (the machine's two cores are shared with the load generator,
etcd and gRPC's threads): what is left, the loop had nothing to do. The proxy's
`loop_stalls_over_2ms` counts its event loop's lag samples (common.loop_lag, one every 10
ms) over 2 ms, by cause: `waiting` (its thread runnable without a CPU) or `busy` (a long
callback, a collection, a blocking call), and `etcd` how often etcd's Go runtime collected
and how many of its WAL fsyncs took over 8 ms: the slowest calls at 1,000/s wait behind the
commits those slow down. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from common.etcd_launcher import EmbeddedEtcd
from common.settings import EtcdSettings
from fed.v1 import federation_pb2, federation_pb2_grpc, types_pb2
from proxy.server import LEADER_SERVICE
from tools.bench import fleet_status
from tools.bench.proc import cpu_seconds, main_thread_schedule, rss_mib
from tools.devstack.child import JsonLinesChild

Call = Callable[[int], Awaitable[object]]


def place_request(name: str) -> federation_pb2.PlaceWorkloadRequest:
    """The benchmark's request: a fresh workload of 2 replicas of 100m / 128Mi."""
    spec = types_pb2.WorkloadSpec(
        namespace="bench",
        name=name,
        replicas=2,
        resources=types_pb2.Resources(cpu_millis=100, memory_bytes=128 << 20),
    )
    return federation_pb2.PlaceWorkloadRequest(request_id=name, spec=spec)


def place_call(address: str, run: str) -> Call:
    stub = federation_pb2_grpc.FederationStub(grpc.aio.insecure_channel(address))

    async def call(serial: int) -> object:
        return await stub.PlaceWorkload(place_request(f"{run}-{serial}"), timeout=10)

    return call


def summarise(latencies: list[float], elapsed: float) -> dict[str, float]:
    latencies.sort()
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 2),
        "count": len(latencies),
    }


async def closed_loop(
    call: Call, clients: int, seconds: float, watched: dict[str, int] | None = None
) -> dict[str, float]:
    """N clients calling back to back; with `watched` (name -> pid), also the CPU time each
    of those processes spent per call, and for the "server" the share of the time its main
    thread (its event loop) was on a CPU, and waited for one: near 1 together, the loop is
    what limits the calls/s."""
    watched = dict(watched or {}) | {"loadgen": os.getpid()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    loop_busy = LoopBusy(watched.get("server"))
    latencies: list[float] = []
    serial = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(next(serial))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    figures = summarise(latencies, time.perf_counter() - started)
    for name, pid in watched.items():
        spent = cpu_seconds(pid) - cpu_before[name]
        figures[f"{name}_cpu_us_per_call"] = round(spent / max(len(latencies), 1) * 1e6, 1)
    return figures | loop_busy.figures()


class LoopBusy:
    """The shares of the wall time since it was made that a server's main thread ran, and that
    it was runnable but waited for a CPU (the rest it had nothing to do)."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid
        self._started = time.perf_counter()
        self._before = main_thread_schedule(pid) if pid is not None else (0.0, 0.0)

    def figures(self) -> dict[str, float]:
        if self._pid is None:
            return {}
        wall = time.perf_counter() - self._started
        on_cpu, waiting = main_thread_schedule(self._pid)
        return {
            "server_loop_busy": round((on_cpu - self._before[0]) / wall, 2),
            "server_loop_waiting_cpu": round((waiting - self._before[1]) / wall, 2),
        }


async def open_loop(
    call: Call, rate: float, seconds: float, in_flight: int = 256, server: int | None = None
) -> dict[str, object]:
    """A fixed arrival rate. At most `in_flight` calls are on the wire, as in a real client:
    later arrivals queue in the client and that wait counts in their latency (grpc.aio
    cancels calls outright when thousands are started on one channel at once, against a
    bare echo server too). Failed calls are counted by status code, not timed. With the
    `server` pid, also how busy its event loop was (see closed_loop)."""
    loop_busy = LoopBusy(server)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    slots = asyncio.Semaphore(in_flight)

    async def one(serial: int) -> None:
        started = time.perf_counter()
        try:
            async with slots:
                await call(serial)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] = errors.get(error.code().name, 0) + 1
            return
        latencies.append(time.perf_counter() - started)

    in_progress: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for serial in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + serial / rate - time.perf_counter()))
        task = asyncio.create_task(one(serial))
        in_progress.add(task)
        task.add_done_callback(in_progress.discard)
    # Only the calls still in flight: gathering all 5,000 (a done callback each) blocks the
    # loop 9-13 ms on an idle machine, while the last calls' replies wait to be timed.
    await asyncio.gather(*in_progress)
    summary = summarise(latencies, time.perf_counter() - started)
    return {**summary, "errors": errors, **loop_busy.figures()}


async def wait_ready(address: str, clusters: int) -> str:
    """Wait until the proxy leads and sees every cluster Ready; returns its metrics
    endpoint (host:port)."""
    channel = grpc.aio.insecure_channel(address)
    health = health_pb2_grpc.HealthStub(channel)
    api = federation_pb2_grpc.FederationStub(channel)
    leading = health_pb2.HealthCheckRequest(service=LEADER_SERVICE)
    for _ in range(400):
        answer = await health.Check(leading)
        listed = await api.ListClusters(federation_pb2.ListClustersRequest())
        ready = [c for c in listed.clusters if c.health.health == types_pb2.CLUSTER_HEALTH_READY]
        if answer.status == health_pb2.HealthCheckResponse.SERVING and len(ready) == clusters:
            topology = await api.GetTopology(federation_pb2.GetTopologyRequest())
            return str(topology.leader.member.metrics_address)
        await asyncio.sleep(0.05)
    raise TimeoutError("the proxy did not lead with every cluster Ready")


def metric_samples(address: str) -> Iterator[tuple[str, Sample]]:
    """(family name, sample) of every sample on a /metrics page."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield family.name, sample


def running_totals(metrics_address: str, etcd_endpoint: str) -> dict[str, float]:
    """The leader's and etcd's running counts and sums that `batch_means` compares."""
    return batch_totals(metrics_address) | etcd_totals(etcd_endpoint)


def batch_totals(metrics_address: str) -> dict[str, float]:
    """The leader's running sums and counts of batch sizes, classes per batch and fenced
    commit seconds, and of its event loop's lag samples (all, and those over 2 ms by cause)."""
    wanted = {"fed_scheduler_batch_size", "fed_scheduler_classes_per_batch"}
    totals: dict[str, float] = {}
    for family, sample in metric_samples(metrics_address):
        if family == "fed_event_loop_lag_seconds":
            _add_lag_sample(totals, sample.name, sample.labels, sample.value)
        if not sample.name.endswith(("_sum", "_count")):
            continue
        if family in wanted:
            totals[sample.name] = sample.value
        elif family == "fed_etcd_txn_seconds" and sample.labels["kind"] == "fenced":
            totals[sample.name.replace("fed_etcd_txn_seconds", "commit")] = sample.value
    return totals


SLOW_FSYNC_S = "0.008"
"""etcd WAL fsyncs above this bucket bound count as slow."""


def etcd_totals(endpoint: str) -> dict[str, float]:
    """etcd's running counts of Go collections and of WAL fsyncs (all, and those at or under
    SLOW_FSYNC_S): the two causes of its slow commits found in the slowest calls at 1,000/s."""
    totals: dict[str, float] = {}
    for _, sample in metric_samples(endpoint):
        if sample.name == "go_gc_duration_seconds_count":
            totals["etcd_gc_runs"] = sample.value
        elif sample.name == "etcd_disk_wal_fsync_duration_seconds_count":
            totals["etcd_fsyncs"] = sample.value
        elif (
            sample.name == "etcd_disk_wal_fsync_duration_seconds_bucket"
            and sample.labels.get("le") == SLOW_FSYNC_S
        ):
            totals["etcd_fast_fsyncs"] = sample.value
    return totals


STALL_S = "0.002"
"""Lag samples above this bucket bound count as stalls."""


def _add_lag_sample(
    totals: dict[str, float], name: str, labels: dict[str, str], value: float
) -> None:
    """Lag samples: +count overall and per cause, -count at or under STALL_S per cause."""
    cause = labels.get("cause", "")
    if name.endswith("_count"):
        totals["lag_samples"] = totals.get("lag_samples", 0.0) + value
        totals[f"stalls_{cause}"] = totals.get(f"stalls_{cause}", 0.0) + value
    elif name.endswith("_bucket") and labels.get("le") == STALL_S:
        totals[f"stalls_{cause}"] = totals.get(f"stalls_{cause}", 0.0) - value


def batch_means(before: dict[str, float], after: dict[str, float]) -> dict[str, object]:
    """Mean writes per batch, classes per scheduled batch and fenced commit time (ms)
    between two scrapes, the event loop's stalls over 2 ms by cause among its lag samples
    (one every 10 ms), and etcd's Go collections and WAL fsyncs over 8 ms."""

    def mean(family: str) -> float:
        count = after.get(f"{family}_count", 0.0) - before.get(f"{family}_count", 0.0)
        total = after.get(f"{family}_sum", 0.0) - before.get(f"{family}_sum", 0.0)
        return total / count if count else 0.0

    def change(name: str) -> int:
        return round(after.get(name, 0.0) - before.get(name, 0.0))

    return {
        "mean_batch": round(mean("fed_scheduler_batch_size"), 1),
        "mean_classes": round(mean("fed_scheduler_classes_per_batch"), 1),
        "mean_commit_ms": round(mean("commit") * 1000, 2),
        "loop_stalls_over_2ms": {
            "busy": change("stalls_busy"),
            "waiting": change("stalls_waiting"),
            "of_samples": change("lag_samples"),
        },
        "etcd": {
            "gc_runs": change("etcd_gc_runs"),
            "wal_fsyncs_over_8ms": change("etcd_fsyncs") - change("etcd_fast_fsyncs"),
            "of_fsyncs": change("etcd_fsyncs"),
        },
    }


async def bench(args: argparse.Namespace, etcd: EmbeddedEtcd) -> dict[str, object]:
    fleet = fleet_status.start(etcd.endpoint, args.clusters)
    echo = JsonLinesChild("echo", "tools.bench.echo_server", [])
    echo_transport = JsonLinesChild(
        "echo-proxy-transport", "tools.bench.echo_server", ["--proxy-transport"]
    )
    proxy = JsonLinesChild(
        "proxy", "proxy",
        ["--etcd", etcd.endpoint, "--id", "bench", "--set", f"etcd.prefix={fleet_status.PREFIX}",
         "--set", f"proxy.batch_window_ms={args.window_ms}",
         "--set", "observability.log_level=WARNING", "--set", "etcd.max_txn_ops=128"],
    )  # fmt: skip
    try:
        echo_address = echo.expect("ready", 20)[0]["address"]
        echo_transport_address = echo_transport.expect("ready", 20)[0]["address"]
        proxy_address = proxy.expect("ready", 20)[0]["address"]
        metrics_address = await wait_ready(proxy_address, args.clusters)
        await closed_loop(place_call(proxy_address, "warm"), args.clients, 1.0)
        echo_run = await closed_loop(
            place_call(echo_address, "e"), args.clients, args.seconds, {"server": echo.pid}
        )
        print(f"{'echo':>18}: {echo_run}", flush=True)
        echo_transport_run = await closed_loop(
            place_call(echo_transport_address, "u"),
            args.clients,
            args.seconds,
            {"server": echo_transport.pid},
        )
        print(f"{'echo as the proxy':>18}: {echo_transport_run}", flush=True)
        before = running_totals(metrics_address, etcd.endpoint)
        proxy_run = await closed_loop(
            place_call(proxy_address, "p"),
            args.clients,
            args.seconds,
            {"server": proxy.pid, "etcd": etcd.pid},
        )
        after = running_totals(metrics_address, etcd.endpoint)
        proxy_figures = proxy_run | batch_means(before, after)
        print(f"{'proxy':>18}: {proxy_figures}", flush=True)
        echo_rated = await open_loop(
            place_call(echo_address, "er"), args.rate, args.seconds, server=echo.pid
        )
        print(f"{'echo at rate':>18}: {echo_rated}", flush=True)
        before = running_totals(metrics_address, etcd.endpoint)
        rated = await open_loop(
            place_call(proxy_address, "r"), args.rate, args.seconds, server=proxy.pid
        )
        rated |= batch_means(before, running_totals(metrics_address, etcd.endpoint))
        etcd_peak_rss = rss_mib(etcd.pid)[1]
    finally:
        proxy.stop()
        echo.stop()
        echo_transport.stop()
        fleet.stop()
    return {
        "clients": args.clients,
        "clusters": args.clusters,
        "window_ms": args.window_ms,
        "etcd_dir": str(etcd.data_dir),
        "etcd_go_gc_percent": etcd.go_gc_percent,
        "etcd_peak_rss_mib": round(etcd_peak_rss),
        "echo": echo_run,
        "proxy": proxy_figures,
        "echo_proxy_transport": echo_transport_run,
        "ratio_to_echo": round(float(proxy_run["per_s"]) / float(echo_run["per_s"]), 3),
        "ratio_to_echo_proxy_transport": round(
            float(proxy_run["per_s"]) / float(echo_transport_run["per_s"]), 3
        ),
        f"echo_at_{int(args.rate)}_per_s": echo_rated,
        f"proxy_at_{int(args.rate)}_per_s": rated,
    }


def load_arguments(description: str | None) -> argparse.ArgumentParser:
    """The load generator's options, shared by the benchmarks that drive proxies with it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--window-ms", type=float, default=2.0)
    parser.add_argument(
        "--etcd-dir", default="", help="the embedded etcd's data directory (default: a new one)"
    )
    parser.add_argument(
        "--etcd-go-gc-percent", type=int, default=EtcdSettings.go_gc_percent, help="its GOGC"
    )
    return parser


def bench_etcd(args: argparse.Namespace) -> EmbeddedEtcd:
    """The embedded etcd as the load generator's options ask for it (not started)."""
    return EmbeddedEtcd.create(args.etcd_dir or None, go_gc_percent=args.etcd_go_gc_percent)


def main() -> None:
    args = load_arguments(__doc__).parse_args()
    with bench_etcd(args) as etcd:
        results = asyncio.run(bench(args, etcd))
    rated = f"proxy_at_{int(args.rate)}_per_s"
    print(f"{rated:>18}: {results[rated]}")
    print(f"{'ratio to echo':>18}: {results['ratio_to_echo']}")
    print(f"{'to echo as proxy':>18}: {results['ratio_to_echo_proxy_transport']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
