"""Shared foundation: settings, etcd adapter, election, keys, metrics, logs, retries."""
