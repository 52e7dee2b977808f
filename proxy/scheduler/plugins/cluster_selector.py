"""Filter: the policy's cluster label selector (Kubernetes LabelSelector semantics)."""

from __future__ import annotations

from collections.abc import Mapping

from proxy.scheduler.framework import ClusterState, FilterPlugin, PluginContext
from proxy.scheduler.selection import Requirement, Selection
from proxy.scheduler.status import Status


def requirement_holds(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    value = labels.get(requirement.key)
    if requirement.operator == "In":
        return value is not None and value in requirement.values
    if requirement.operator == "NotIn":
        return value is None or value not in requirement.values
    if requirement.operator == "Exists":
        return value is not None
    if requirement.operator == "DoesNotExist":
        return value is None
    return False


def mismatch(selection: Selection, labels: Mapping[str, str]) -> str:
    """Why the labels do not match the selector; empty when they do."""
    for key, wanted in selection.match_labels:
        if labels.get(key) != wanted:
            return f"label {key}={labels.get(key, '<absent>')}, selector wants {wanted}"
    for requirement in selection.match_expressions:
        if not requirement_holds(requirement, labels):
            values = ",".join(sorted(requirement.values))
            return f"label {requirement.key} fails {requirement.operator} ({values})"
    return ""


class ClusterSelectorFilter(FilterPlugin):
    name = "cluster_selector"

    def filter(self, context: PluginContext, cluster: ClusterState) -> Status:
        reason = mismatch(context.selection, cluster.view.labels)
        if reason:
            return Status.unresolvable(reason)
        return Status.success("labels match")
