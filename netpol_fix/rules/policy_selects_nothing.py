"""policy-selects-nothing: a policy whose podSelector matches none of its namespace's pods.

Usually a label typo or a label that changed in the workload and not in the policy: the
policy then protects nothing (and its allow rules admit nothing for the pods meant), while
a reviewer believes the workload is covered. Only reported when the sources hold workloads
of that namespace; a repository holding policies alone cannot tell.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.model.findings import NONE, WARNING, Finding
from netpol_fix.model.objects import Workload
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed

SHOWN_WORKLOADS = 5


def describe_workload(workload: Workload) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(workload.labels.items()))
    return f"{workload.kind}/{workload.name} {{{labels}}}"


class PolicySelectsNothing(Rule):
    id = "policy-selects-nothing"
    severity = WARNING
    applicability = NONE
    summary = "A policy whose podSelector matches none of the workloads of its namespace"
    doc = RuleDoc(
        why=(
            "A NetworkPolicy applies only to the pods its podSelector matches in its own "
            "namespace. When it matches none of the workloads the sources hold there, it is "
            "dangling: the workload it was written for is unprotected (or, for an allow "
            "policy, still denied by a default-deny), typically after a label was renamed in "
            "the Deployment and not in the policy, or because the policy sits in the wrong "
            "namespace. Workloads selected only by their labels count, hostNetwork ones too."),
        example=(
            "kind: NetworkPolicy\nmetadata: {name: isolate-nginx, namespace: default}\n"
            "spec:\n  podSelector: {matchLabels: {app: nginx}}\n"
            "# the only Deployment in default is labelled app: web"),
        fix=(
            "None: only the author knows whether the policy or the workload labels are "
            "wrong. The finding lists the workloads of the namespace and their labels; correct "
            "the podSelector, the pod template labels, or the policy's namespace."),
        unsafe="There is no automatic fix.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        by_namespace: dict[str, list[Workload]] = {}
        for workload in ctx.inventory.workloads:
            if not workload.representative:
                by_namespace.setdefault(workload.namespace, []).append(workload)
        # the network's label index answers "does it select one of them" with a few
        # integer operations per policy, instead of matching every workload's labels
        net = ctx.network
        written = 0
        for i, endpoint in enumerate(net.endpoints):
            if not endpoint.representative:
                written |= 1 << i
        findings = []
        for policy in ctx.inventory.policies:
            workloads = by_namespace.get(policy.namespace, [])
            if not workloads or suppressed(self.id, policy.source):
                continue
            if net.ns_members.get(policy.namespace, 0) & written \
                    & net.pod_index.select(policy.pod_selector):
                continue
            findings.append(self._finding(policy, workloads))
        return findings

    def _finding(self, policy: NetworkPolicy, workloads: list[Workload]) -> Finding:
        shown = "; ".join(describe_workload(w) for w in workloads[:SHOWN_WORKLOADS])
        more = f"; and {len(workloads) - SHOWN_WORKLOADS} more" \
            if len(workloads) > SHOWN_WORKLOADS else ""
        message = (f"podSelector {policy.pod_selector} of NetworkPolicy {policy.key} matches "
                   f"none of the {len(workloads)} workload(s) the sources hold in namespace "
                   f"{policy.namespace}, so it governs no pod there: {shown}{more}. If an "
                   "operator creates the pods it is meant for, suppress this finding")
        return Finding(self.id, self.severity, policy.ref, policy.source, message, [])
