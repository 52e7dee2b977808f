"""Operator and developer tools: fedctl, kubesim, benchmarks, the one-machine stack."""

import os

# Processes here spawn children (etcd, kubesim, proxies, workers) with fork+exec while gRPC is
# loaded; gRPC's fork support can then restart its poller in the forked child, which dies on
# a closed epoll fd before it reaches exec (grpc/grpc#43157). These processes never fork to
# keep running Python, so fork support is off; it must be set before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
