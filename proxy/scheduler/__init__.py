"""The placement engine: filter, score and divide replicas over the fleet, with no I/O.

Entry point: `proxy.scheduler.engine.Engine`; inputs in `proxy.scheduler.model`.
"""
