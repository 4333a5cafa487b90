"""egress-rules-ignored / ingress-rules-ignored: rules for a direction policyTypes leaves out.

With an explicit `policyTypes: [Ingress]`, the API server stores `spec.egress` and ignores
it: the author believes egress is restricted, and it is not. The fix (adding the direction)
makes the rules apply, which also denies everything they do not list, so it is unsafe and
the finding states, computed from the engine, which flows the selected pods then lose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.fixes.effect import flow_changes, network_with, patched_policies
from netpol_fix.model.findings import UNSAFE, WARNING, Finding, Fix, Flow, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed
from netpol_fix.rules.missing_dns_egress import dns_rule

SHOWN_PAIRS = 5


def add_direction_operations(policy: NetworkPolicy, direction: str) -> list[dict[str, Any]]:
    """Tests of policyTypes, the selected pods and the rules relied on; then the direction
    inserted into policyTypes."""
    assert policy.source is not None
    spec = policy.source.obj.get("spec") or {}
    field = direction.lower()
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/spec/policyTypes", "value": spec["policyTypes"]}]
    if "podSelector" in spec:
        ops.append({"op": "test", "path": "/spec/podSelector", "value": spec["podSelector"]})
    ops.append({"op": "test", "path": f"/spec/{field}", "value": spec[field]})
    # inserted, not the list replaced: the line of the item already there keeps its comment
    # and a flow list stays a flow list; Ingress goes first, as the API lists them
    where = "0" if direction == "Ingress" else "-"
    ops.append({"op": "add", "path": f"/spec/policyTypes/{where}", "value": direction})
    return ops


def describe_flows(flows: list[Flow]) -> str:
    """Flows grouped per pair of endpoints, so that a pair losing all but DNS reads as one."""
    pairs: dict[tuple[str, str], list[Flow]] = {}
    for flow in flows:
        pairs.setdefault((flow.source, flow.destination), []).append(flow)
    parts = []
    for (src, dst), lost in list(pairs.items())[:SHOWN_PAIRS]:
        parts.append(f"{src} -> {dst} ({', '.join(f.connections for f in lost)})")
    more = f"; and {len(pairs) - SHOWN_PAIRS} more pair(s)" if len(pairs) > SHOWN_PAIRS else ""
    return "; ".join(parts) + more


class _RulesIgnored(Rule):
    """Shared logic; subclasses set `direction`."""

    direction: str
    severity = WARNING
    applicability = UNSAFE

    def check(self, ctx: Context) -> Iterable[Finding]:
        findings = []
        for policy in ctx.inventory.policies:
            if (not policy.policy_types_explicit or policy.isolates(self.direction)
                    or not policy.rules(self.direction) or policy.source is None
                    or suppressed(self.id, policy.source)):
                continue
            findings.append(self._finding(ctx, policy))
        return findings

    def _finding(self, ctx: Context, policy: NetworkPolicy) -> Finding:
        net = ctx.network
        selected = ctx.selected_endpoints(policy)
        affected = [endpoint_ref(net.endpoints[i]) for i in selected]
        field = self.direction.lower()
        count = len(policy.rules(self.direction))
        assert policy.source is not None
        ops = add_direction_operations(policy, self.direction)
        patch = Patch(policy.ref, ops, policy.source)
        with_dns = False
        if self.direction == "Egress" and self._denies_dns(ctx, patch, selected):
            ops.append({"op": "add", "path": "/spec/egress/-",
                        "value": dns_rule(ctx.dns.namespace, ctx.dns.labels, ctx.dns.port)})
            with_dns = True
        opened, closed = flow_changes(net, patched_policies(ctx.inventory, [patch]))
        message = (f"NetworkPolicy {policy.key} has {count} {field} rule(s) but its "
                   f"policyTypes [{', '.join(policy.policy_types)}] leaves out {self.direction}: the "
                   f"API server ignores them, so {field} of the selected pods is not "
                   f"restricted at all.")
        if closed:
            message += (f" Adding {self.direction} makes the rules apply; the selected pods "
                        f"then lose {describe_flows(closed)}")
        else:
            message += (f" Adding {self.direction} makes the rules apply; among the workloads "
                        "known, the selected pods lose no flow")
        message += (" (and every connection " + ("to" if field == "egress" else "from")
                    + " addresses outside the cluster that no rule lists).")
        description = f"add {self.direction} to policyTypes of NetworkPolicy {policy.key}"
        if with_dns:
            description += (f", with an egress rule allowing UDP and TCP {ctx.dns.port} to "
                            f"{ctx.dns.ref} so that name lookups keep working")
        fix = Fix(UNSAFE, description, [patch], [], opened)
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected, fix)

    def _denies_dns(self, ctx: Context, patch: Patch, selected: list[int]) -> bool:
        """Whether the patch takes DNS (UDP and TCP) away from a pod that has it now."""
        targets = ctx.dns_endpoints()
        if not targets:
            return False
        target, port = targets[0], ctx.dns.port
        after = network_with(ctx.network, patched_policies(ctx.inventory, [patch]))

        def has_dns(net: Network, i: int) -> bool:
            conns = net.egress_conns(i, target)
            return conns.allows("UDP", port) and conns.allows("TCP", port)

        return any(has_dns(ctx.network, i) and not has_dns(after, i)
                   for i in selected if i not in targets)


class EgressRulesIgnored(_RulesIgnored):
    id = "egress-rules-ignored"
    direction = "Egress"
    summary = "Egress rules present, but policyTypes leaves out Egress: the API ignores them"
    doc = RuleDoc(
        why=(
            "When policyTypes is written, it alone decides which directions a policy isolates. "
            "`policyTypes: [Ingress]` next to an `egress:` list makes the API server ignore "
            "every egress rule: the pods may connect anywhere, while the manifest reads as if "
            "egress were restricted. Usually the list was copied from an ingress-only policy "
            "and the egress rules added later."),
        example=(
            "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  egress:\n  - to: [{podSelector: {matchLabels: {app: db}}}]\n"
            "# egress is not restricted at all"),
        fix=(
            "Add Egress to policyTypes (the patch tests policyTypes, podSelector and the egress "
            "rules first). If that would cut the selected pods off from cluster DNS, the same "
            "fix appends an egress rule allowing UDP and TCP 53 to the DNS pods. The finding "
            "lists the flows the pods lose, computed from the connectivity before and after."),
        unsafe=(
            "Always unsafe: enforcing rules that were never enforced denies every connection "
            "they do not list, and workloads may depend on such connections today. Review the "
            "listed flows (and traffic to outside addresses) before applying."),
    )


class IngressRulesIgnored(_RulesIgnored):
    id = "ingress-rules-ignored"
    direction = "Ingress"
    summary = "Ingress rules present, but policyTypes leaves out Ingress: the API ignores them"
    doc = RuleDoc(
        why=(
            "When policyTypes is written, it alone decides which directions a policy isolates. "
            "`policyTypes: [Egress]` next to an `ingress:` list makes the API server ignore "
            "every ingress rule: anything may connect to the pods, while the manifest reads as "
            "if only the listed peers could."),
        example=(
            "spec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Egress]\n"
            "  ingress:\n  - from: [{podSelector: {matchLabels: {app: api}}}]\n"
            "# every pod may still connect to db"),
        fix=(
            "Add Ingress to policyTypes (the patch tests policyTypes, podSelector and the "
            "ingress rules first). The finding lists the flows to the selected pods that are "
            "then denied, computed from the connectivity before and after."),
        unsafe=(
            "Always unsafe: clients that connect today without being listed in the rules "
            "(monitoring, ingress controllers, other namespaces) are cut off. Review the listed "
            "flows before applying."),
    )
