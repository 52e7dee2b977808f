"""kubesim: the Kubernetes REST API of many simulated clusters over real HTTP, in one process.

Library use:
    async with KubeSim(SimConfig(clusters=2, nodes=10)) as sim: sim.clusters["c1"].url
    with SimThread(SimConfig(...)) as sim: ...       # own loop in a thread, for blocking code
    with SimProcess(SimConfig(...), out_dir) as sim: ...  # child process, dies with its parent
"""

from tools.kubesim.config import ClusterSpec, SimConfig
from tools.kubesim.process import SimProcess
from tools.kubesim.sim import KubeSim, SimThread

__all__ = ["ClusterSpec", "KubeSim", "SimConfig", "SimProcess", "SimThread"]
