"""Allow rules a fix adds to a CiliumNetworkPolicy, or a new CiliumNetworkPolicy carrying them.

Where only a CiliumNetworkPolicy isolates a side (no NetworkPolicy selects the pod in that
direction), the fix goes into that kind: the owner decides that direction in Cilium's
language, and the edit stays where they read it (a NetworkPolicy would work too, since
Cilium adds up the allows of both kinds, "policies are additive", but it would be a second
place deciding the same direction). Like the NetworkPolicy
fixes, the rules are appended only to a rule set that selects exactly the affected
workloads and names them; otherwise a new CiliumNetworkPolicy per workload, selecting it
by all its labels, carries them (named like the NetworkPolicy per-workload fixes,
`<workload>-allow-ingress`). Every edit is RFC 6902 JSON Patch, guarded by `test`
operations on what it relied on, as for NetworkPolicies (fixes/append.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.inventory.cilium_policies import parse_cilium_policy
from netpol_fix.model.cilium_policy import CNP_KIND, CiliumPolicy, CiliumRule
from netpol_fix.model.objects import Workload

PEERS = {"Ingress": "fromEndpoints", "Egress": "toEndpoints"}
MAX_NAME = 253


def rule_set_pointer(policy: CiliumPolicy, index: int) -> str:
    """The JSON pointer of a rule set: the parser numbers `spec` first, then `specs`."""
    obj = policy.source.obj if policy.source is not None else {}
    if obj.get("spec") is not None:
        return "/spec" if index == 0 else f"/specs/{index - 1}"
    return f"/specs/{index}"


def value_at(obj: Any, pointer: str) -> Any:
    """The value at a JSON pointer of an object as written, None where the path is absent
    or crosses a scalar (the objects come from the sources, of any shape)."""
    for part in pointer.strip("/").split("/"):
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def append_cilium_rules_operations(policy: CiliumPolicy, rule_set: int, direction: str,
                                   rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operations appending allow rules to one rule set's `ingress`/`egress`, guarded by a
    test of its endpointSelector (the pods the fix relied on) and of the list it appends to
    (an `add` of the whole list where there is none: the rule set isolates the direction by
    its deny rules or `enableDefaultDeny` alone)."""
    assert policy.source is not None
    pointer = rule_set_pointer(policy, rule_set)
    raw = value_at(policy.source.obj, pointer)
    assert isinstance(raw, dict)
    field = direction.lower()
    ops: list[dict[str, Any]] = [{"op": "test", "path": f"{pointer}/endpointSelector",
                                  "value": raw.get("endpointSelector")}]
    existing = raw.get(field)
    if isinstance(existing, list):
        ops.append({"op": "test", "path": f"{pointer}/{field}", "value": existing})
        ops += [{"op": "add", "path": f"{pointer}/{field}/-", "value": rule} for rule in rules]
    else:
        ops.append({"op": "add", "path": f"{pointer}/{field}", "value": list(rules)})
    return ops


def cilium_policy_name(network: Network, namespace: str, workload: str, direction: str,
                       taken: set[tuple[str, str]]) -> str:
    """`web-allow-ingress` (`-2`, ... when a CiliumNetworkPolicy of the namespace or another
    object this run creates has it); adds the name to `taken`."""
    suffix = f"-allow-{direction.lower()}"
    base = f"{workload[:MAX_NAME - len(suffix) - 4]}{suffix}"
    existing = {p.name for p in network.inventory.cilium
                if p.kind == CNP_KIND and p.namespace == namespace}
    name, n = base, 1
    while name in existing or (namespace, name) in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add((namespace, name))
    return name


def workload_cilium_policy(network: Network, workload: Workload, direction: str,
                           rules: list[dict[str, Any]], taken: set[tuple[str, str]]
                           ) -> dict[str, Any]:
    """A CiliumNetworkPolicy selecting `workload`'s pods by all their labels with `rules` in
    `direction` (they are already in default deny for it: the rules only add allowances)."""
    return {
        "apiVersion": "cilium.io/v2",
        "kind": CNP_KIND,
        "metadata": {"name": cilium_policy_name(network, workload.namespace, workload.name,
                                                direction, taken),
                     "namespace": workload.namespace},
        "spec": {"endpointSelector": {"matchLabels": dict(sorted(workload.labels.items()))},
                 direction.lower(): rules},
    }


def parse_cilium_rules(namespace: str, direction: str, rules: Sequence[dict[str, Any]]
                       ) -> list[CiliumRule]:
    """The rules as the inventory's parser reads them in a CiliumNetworkPolicy of
    `namespace` (peers without a namespace label are that namespace's)."""
    obj = {"apiVersion": "cilium.io/v2", "kind": CNP_KIND,
           "metadata": {"name": "fix", "namespace": namespace},
           "spec": {"endpointSelector": {}, direction.lower(): list(rules)}}
    policy, _warnings = parse_cilium_policy(obj)
    return list(policy.rule_sets[0].rules)
