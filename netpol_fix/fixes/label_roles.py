"""Which pods a rule appended to a policy reaches, now and later: label roles.

A rule appended to a policy reaches every pod its podSelector selects, including pods
created later. `podSelector: {}` selects every future pod of the namespace, and so does
`tier: web` for every future web pod, even when only one workload lives there today. A
flow-specific rule therefore goes into a policy only when its podSelector names the
workload itself: it pins an identity label (`app: web`, `app.kubernetes.io/name: web`),
a label that names a workload rather than a class of pods. Otherwise the fix writes a new
policy selecting the workload by all its labels.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.model.objects import Workload
from netpol_fix.model.selectors import LabelSelector

IDENTITY_KEYS = frozenset({
    "app", "app.kubernetes.io/name", "app.kubernetes.io/instance", "k8s-app", "name",
    "statefulset.kubernetes.io/pod-name", "job-name", "batch.kubernetes.io/job-name",
    "apps.kubernetes.io/pod-index", "run",
})
"""Labels that name a workload: Kubernetes' recommended `app.kubernetes.io/name` and
`instance`, the conventional `app`, `k8s-app`, `name`, the `run` label of `kubectl run`
and the labels the controllers set on one pod or on one job's pods."""

CLASS_KEYS = frozenset({
    "tier", "role", "team", "env", "environment", "stage", "track", "version", "zone",
    "app.kubernetes.io/part-of", "app.kubernetes.io/component", "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by", "component", "type", "kind", "owner", "release",
})
"""Labels that name a class of pods (a tier, a role, a team, an environment, a release):
many workloads share each value by design."""


class LabelRoles:
    """Whether a pod label names a workload, for one set of workloads (memoised)."""

    def __init__(self, workloads: Iterable[Workload]) -> None:
        # for keys outside both lists: how many workloads of a namespace share each value
        self._values: dict[str, dict[tuple[str, str], int]] = {}
        for workload in workloads:
            if workload.representative:
                continue
            for key, value in workload.labels.items():
                if key in IDENTITY_KEYS or key in CLASS_KEYS:
                    continue
                per = self._values.setdefault(key, {})
                per[(workload.namespace, value)] = per.get((workload.namespace, value), 0) + 1
        self._keys: dict[str, bool] = {}

    def identity_key(self, key: str) -> bool:
        """The listed keys decide; another key names a workload when no two workloads of
        one namespace share one of its values (a key no workload of the sources carries
        names something the repository does not hold: as specific as it gets)."""
        known = self._keys.get(key)
        if known is None:
            if key in IDENTITY_KEYS:
                known = True
            elif key in CLASS_KEYS:
                known = False
            else:
                known = all(count == 1 for count in self._values.get(key, {}).values())
            self._keys[key] = known
        return known

    def names_workload(self, selector: LabelSelector | None) -> bool:
        """A podSelector that pins an identity label to values (matchLabels or `In`)."""
        if selector is None:
            return False
        return any(self.identity_key(key) for key, _ in selector.match_labels) or any(
            req.operator == "In" and self.identity_key(req.key)
            for req in selector.match_expressions)
