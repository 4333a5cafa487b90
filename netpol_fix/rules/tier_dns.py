"""missing-dns-egress where another tier than NetworkPolicy takes DNS away.

With admin or Cilium policies, a pod's lookups can be denied by an AdminNetworkPolicy
Deny rule, by the BaselineAdminNetworkPolicy (a default deny for pods no NetworkPolicy
isolates), by a CiliumNetworkPolicy that puts the pod in default deny for egress, or by a
Cilium deny rule. The deciding step comes from the engine's chain (engine/tier_trace.py),
and the fix goes into the policy of that kind:

- a CiliumNetworkPolicy that isolates the pod: an egress rule to the DNS pods with
  `toPorts` 53 UDP and TCP (plus `rules: dns: [{matchPattern: "*"}]` when the pod's Cilium
  rules use toFQDNs, which need the DNS proxy to see the lookups);
- an AdminNetworkPolicy or the BaselineAdminNetworkPolicy whose Deny rule matches DNS: an
  Allow rule for the DNS pods on 53 inserted before it (rules are ordered, first match wins);
- a Cilium deny rule: no fix (a deny rule is a deliberate decision); the finding says which.

The flows a fix opens are computed by the engine on the patched policy (fixes/tier_fix.py).
"""

from __future__ import annotations

from typing import Any

from netpol_fix.engine.tier_trace import TierStep
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.fixes.tier_fix import egress_flows_opened, patch_for, patched_network
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.admin_policy import AdminPolicy
from netpol_fix.model.cilium_policy import POD_NAMESPACE, CiliumPolicy
from netpol_fix.model.findings import ERROR, SAFE, Finding, Fix
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.rules.context import Context, suppressed

RULE_ID = "missing-dns-egress"


def _deciding(steps: list[TierStep]) -> TierStep | None:
    for step in steps:
        if step.decision in ("Deny", "denied"):
            return step
    return None


def tier_dns_findings(ctx: Context, target: int, dns_bits: int
                      ) -> tuple[set[int], list[Finding]]:
    """(endpoints whose DNS another tier denies, their findings). The NetworkPolicy rule
    leaves those endpoints alone: a NetworkPolicy edit would not give them DNS back."""
    net = ctx.network
    tiers = net.tiers
    dns = ctx.dns
    if tiers is None or dns.node_local is not None:
        return set(), []
    explainer = Explainer(net)
    groups: dict[tuple[str, int], tuple[Any, TierStep, list[int], set[str]]] = {}
    handled: set[int] = set()
    for i in range(net.size):
        if dns_bits >> i & 1 or net.endpoints[i].host_network:
            continue
        conns = net.egress_conns(i, target)
        lacking = tuple(p for p in ("UDP", "TCP") if not conns.allows(p, dns.port))
        if not lacking:
            continue
        for protocol in lacking:
            verdict = explainer.explain_pods(i, target, Query(dns.port, protocol))
            chain = verdict.egress.tiers
            step = _deciding(chain.steps) if chain is not None else None
            if step is None or step.policy is None:
                continue  # the NetworkPolicy tier (a NetworkPolicy isolates): its own rule
            handled.add(i)
            key = (step.tier + step.subject, id(step.policy))
            entry = groups.setdefault(key, (step.policy, step, [], set()))
            if i not in entry[2]:
                entry[2].append(i)
            entry[3].add(protocol)
    findings = []
    for policy, step, covered, lacking_set in groups.values():
        if suppressed(RULE_ID, policy.source):
            continue
        lacking = tuple(p for p in ("UDP", "TCP") if p in lacking_set)
        findings.append(_finding(ctx, policy, step, covered, lacking))
    return handled, findings


def _finding(ctx: Context, policy: AdminPolicy | CiliumPolicy, step: TierStep,
             covered: list[int], lacking: tuple[str, ...]) -> Finding:
    net, dns = ctx.network, ctx.dns
    affected = [endpoint_ref(net.endpoints[i]) for i in sorted(covered)]
    protocols = " and ".join(lacking)
    where = f"{dns.ref} ({protocols} {dns.port})"
    bits = sum(1 << i for i in covered)
    fix = None
    if isinstance(policy, CiliumPolicy) and step.rule is not None:
        message = (f"{len(affected)} workload(s): {policy} {step.rule.label} denies DNS to "
                   f"{where}; deny rules beat every allow, so every name lookup times out "
                   f"(DNS target: {dns.why})")
        return Finding(RULE_ID, ERROR, policy.ref, policy.source, message, affected, None)
    if isinstance(policy, CiliumPolicy):
        message = (f"{len(affected)} workload(s) selected by {policy} are in default deny for "
                   f"egress and no rule allows DNS to {where} (DNS target: {dns.why})")
        rule = _cilium_dns_rule(ctx, policy, covered, lacking)
        obj = policy.source.obj if policy.source is not None else {}
        spec = "/spec" if isinstance(obj.get("spec"), dict) else "/specs/0"
        operations: list[dict[str, Any]]
        operations = _tests(obj, spec, ("endpointSelector",))
        if _has_list(obj, spec, "egress"):
            operations.append({"op": "add", "path": f"{spec}/egress/-", "value": rule})
        else:
            operations.append({"op": "add", "path": f"{spec}/egress", "value": [rule]})
        fix = _fix(ctx, policy, operations, bits,
                   f"append an egress rule to {policy} allowing {protocols} {dns.port} to "
                   f"{dns.ref}")
        return Finding(RULE_ID, ERROR, policy.ref, policy.source, message, affected, fix)
    assert isinstance(policy, AdminPolicy)
    rule_name = step.rule.name if step.rule is not None else "?"
    message = (f"{len(affected)} workload(s): {policy.kind} {policy.name} egress rule "
               f"{rule_name} (Deny) matches DNS to {where} before anything allows it, so "
               f"every name lookup times out (DNS target: {dns.why})")
    allow: dict[str, Any] = {
        "name": "allow-dns",
        "action": "Allow" if policy.kind != "ClusterNetworkPolicy" else "Accept",
        "to": [{"pods": {"namespaceSelector": {"matchLabels": {NAME_LABEL: dns.namespace}},
                         "podSelector": {"matchLabels": dict(dns.labels)}}}],
    }
    if policy.kind == "ClusterNetworkPolicy":
        allow["protocols"] = [{p.lower(): {"destinationPort": {"number": dns.port}}}
                              for p in ("UDP", "TCP")]
    else:
        allow["ports"] = [{"portNumber": {"protocol": p, "port": dns.port}}
                          for p in ("UDP", "TCP")]
    obj = policy.source.obj if policy.source is not None else {}
    operations = [*_tests(obj, "/spec", ("priority", "subject")),
                  {"op": "add", "path": "/spec/egress/0", "value": allow}]
    fix = _fix(ctx, policy, operations, bits,
               f"insert an Allow egress rule at the top of {policy.kind} {policy.name} for "
               f"UDP and TCP {dns.port} to {dns.ref}")
    return Finding(RULE_ID, ERROR, policy.ref, policy.source, message, affected, fix)


def _dig(obj: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        if isinstance(obj, list) and part.isdigit():
            obj = obj[int(part)] if int(part) < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _tests(obj: Any, spec: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """`test` operations on what the fix's effect was computed from (whom the policy
    selects, where it ranks): `apply` refuses the fix when the live object differs there."""
    found = _dig(obj, spec)
    if not isinstance(found, dict):
        return []
    return [{"op": "test", "path": f"{spec}/{key}", "value": found[key]}
            for key in keys if key in found]


def _has_list(obj: Any, spec: str, key: str) -> bool:
    found = _dig(obj, spec)
    return isinstance(found, dict) and isinstance(found.get(key), list)


def _cilium_dns_rule(ctx: Context, policy: CiliumPolicy, covered: list[int],
                     lacking: tuple[str, ...]) -> dict[str, Any]:
    dns = ctx.dns
    net = ctx.network
    assert net.tiers is not None
    fqdn = any("toFQDNs" in rule.runtime for i in covered
               for _p, rule in net.tiers.cilium.rows["Egress"][i])
    entry: dict[str, Any] = {"ports": [{"port": str(dns.port), "protocol": p}
                                       for p in ("UDP", "TCP")]}
    if fqdn:
        entry["rules"] = {"dns": [{"matchPattern": "*"}]}
    selector = {f"k8s:{k}": v for k, v in sorted(dns.labels.items())}
    selector[POD_NAMESPACE] = dns.namespace
    return {"toEndpoints": [{"matchLabels": selector}], "toPorts": [entry]}


def _fix(ctx: Context, policy: AdminPolicy | CiliumPolicy, operations: list[dict[str, Any]],
         bits: int, description: str) -> Fix | None:
    if policy.source is None:
        return None
    after = patched_network(ctx.network, policy, operations)
    assert after.tiers is not None
    governed = bits
    if isinstance(policy, AdminPolicy):
        governed |= after.tiers.subject_bits.get(
            id(next(p for p in after.inventory.admin_policies
                    if (p.kind, p.name) == (policy.kind, policy.name))), 0)
    else:
        for rule_set in next(p for p in after.inventory.cilium
                             if (p.kind, p.key) == (policy.kind, policy.key)).rule_sets:
            governed |= after.tiers.cilium.selected_bits.get(id(rule_set), 0)
    opens = egress_flows_opened(ctx.network, after, governed)
    return Fix(SAFE, description, [patch_for(policy, operations)], [], opens)
