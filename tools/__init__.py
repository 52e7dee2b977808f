"""Operator and developer tools: fedctl, kubesim, benchmarks, the one-machine stack."""
