"""fedctl's entry point: the root command with every command group."""

from __future__ import annotations

from tools.fedctl.cli import cli
from tools.fedctl.commands.cluster import cluster
from tools.fedctl.commands.dev import dev
from tools.fedctl.commands.drill import drill, rebalance
from tools.fedctl.commands.topology import topology
from tools.fedctl.commands.workload import workload

for command in (cluster, workload, topology, drill, rebalance, dev):
    cli.add_command(command)

fedctl = cli


def main() -> None:
    fedctl.main()


if __name__ == "__main__":
    main()
