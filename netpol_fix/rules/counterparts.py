"""The rule that mirrors an explicit allow on the other side, in the kind that isolates it.

one-sided-allow's fix is the counterpart of the allowing rules: to (or from) the pods the
allowing policy selects, pinned to their namespace, on exactly the ports the allowing rules
name. rules/one_sided_allow.py writes it as a NetworkPolicy rule for NetworkPolicy and
CiliumNetworkPolicy allows; this module writes the other combinations:

* a CiliumNetworkPolicy rule (the denying side is isolated by Cilium rule sets alone):
  `fromEndpoints`/`toEndpoints` with the allowing policy's pod labels and
  `k8s:io.kubernetes.pod.namespace` (Cilium's policy language reference: a selector
  without a namespace label selects the policy's own namespace; another namespace needs
  that label), `toPorts` with the ports as written (a NetworkPolicy port without `port`:
  `"0"`, every port of the protocol; a rule without ports: no `toPorts`, every port), the
  `icmps` of a Cilium ICMP rule;
* a NetworkPolicy rule for an admin policy's Allow: to (or from) the subject's podSelector
  in the namespace of the affected pods (the subject is cluster-scoped: one rule per
  namespace), on its ports (`portNumber`, `portRange` as `port`/`endPort`, a `namedPort`,
  which matches any protocol, once per protocol the workloads give that name).
"""

from __future__ import annotations

from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.fixes.cilium_rules import PEERS, rule_set_pointer, value_at
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.admin_policy import AdminPort
from netpol_fix.model.cilium_policy import POD_NAMESPACE
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.admin_evidence import AdminAllowing
from netpol_fix.rules.cilium_evidence import CiliumAllowing

Allowing = NetworkPolicy | CiliumAllowing | AdminAllowing
"""A policy of the side that explicitly allows: a NetworkPolicy, one rule set of a
CiliumNetworkPolicy (cilium_evidence.py), or an admin policy's Allow rules
(admin_evidence.py)."""
OTHER = {"Ingress": "Egress", "Egress": "Ingress"}
EVERY_PORT = None


def _selector(allowing: Allowing) -> dict[str, Any]:
    """The allowing policy's pod selector as written (NetworkPolicy podSelector, the CNP
    rule set's endpointSelector, the admin subject's podSelector)."""
    if isinstance(allowing, NetworkPolicy):
        spec = (allowing.source.obj.get("spec") or {}) if allowing.source else {}
        raw = spec.get("podSelector")
    elif isinstance(allowing, CiliumAllowing):
        pointer = rule_set_pointer(allowing.policy, allowing.rule_set.index)
        raw = value_at(allowing.source.obj if allowing.source else {}, f"{pointer}/endpointSelector")
    else:
        raw = allowing.raw_subject_pods()
    return raw if isinstance(raw, dict) else {}


def _neutral_ports(net: Network, allowing: Allowing, direction: str,
                   indexes: frozenset[int]) -> tuple[list[dict[str, Any]] | None, list[Any]]:
    """(ports, icmps) the allowing rules at `indexes` (of the other direction than
    `direction`) admit; ports None: every port. A port is `{protocol, port, endPort}` with
    `port` as written (None: every port of the protocol; protocol None: a named port of
    any protocol)."""
    other = OTHER[direction]
    ports: list[dict[str, Any]] = []
    icmps: list[Any] = []
    if isinstance(allowing, NetworkPolicy):
        spec = (allowing.source.obj.get("spec") or {}) if allowing.source else {}
        raw_rules = spec.get(other.lower()) or []
        for index in sorted(indexes):
            raw = raw_rules[index] if index < len(raw_rules) else None
            raw_ports = raw.get("ports") if isinstance(raw, dict) else None
            if not raw_ports:
                return EVERY_PORT, []
            for p in raw_ports:
                item = {"protocol": p.get("protocol", "TCP"), "port": p.get("port"),
                        "endPort": p.get("endPort")}
                if item not in ports:
                    ports.append(item)
        return ports, icmps
    if isinstance(allowing, CiliumAllowing):
        pointer = rule_set_pointer(allowing.policy, allowing.rule_set.index)
        obj = allowing.source.obj if allowing.source else {}
        for rule in allowing.rules_at(other, indexes):
            raw = value_at(obj, f"{pointer}/{rule.section}/{rule.index}")
            raw = raw if isinstance(raw, dict) else {}
            if not rule.ports and not rule.icmp:
                return EVERY_PORT, []
            for entry in raw.get("toPorts") or []:
                for p in (entry.get("ports") or []) if isinstance(entry, dict) else []:
                    if isinstance(p, dict) and p not in ports:
                        ports.append(dict(p))
            for icmp in raw.get("icmps") or []:
                if icmp not in icmps:
                    icmps.append(icmp)
        return ports, icmps
    for admin_rule in allowing.rules_at(other, indexes):
        if not admin_rule.ports:
            return EVERY_PORT, []
        for port in admin_rule.ports:
            item = _admin_port(port)
            if item not in ports:
                ports.append(item)
    return ports, icmps


def _admin_port(port: AdminPort) -> dict[str, Any]:
    if port.name is not None:
        return {"protocol": None, "port": port.name, "endPort": None}
    if (port.first, port.last) == (1, 65535):
        return {"protocol": port.protocol, "port": None, "endPort": None}
    return {"protocol": port.protocol, "port": port.first,
            "endPort": port.last if port.last != port.first else None}


def _named_protocols(net: Network, name: str) -> list[str]:
    """Protocols of the container ports called `name` in the sources (TCP if none)."""
    found = {cp.protocol for e in net.endpoints for cp in e.ports if cp.name == name}
    return [p for p in ("TCP", "UDP", "SCTP") if p in found] or ["TCP"]


def cilium_counterpart(net: Network, allowing: Allowing, direction: str,
                       indexes: frozenset[int], namespace: str) -> dict[str, Any]:
    """A CiliumNetworkPolicy allow rule in `direction` mirroring the allowing rules at
    `indexes`: the allowing policy's pods in `namespace` (the allowing policy's own one,
    or for an admin policy the affected pods' one), on those rules' ports."""
    raw = _selector(allowing)
    labels = dict(raw.get("matchLabels") or {})
    selector: dict[str, Any] = {}
    if not any(k.endswith("io.kubernetes.pod.namespace") for k in labels):
        selector["matchLabels"] = {POD_NAMESPACE: namespace, **labels}
    else:
        selector["matchLabels"] = labels
    if raw.get("matchExpressions"):
        selector["matchExpressions"] = list(raw["matchExpressions"])
    rule: dict[str, Any] = {PEERS[direction]: [selector]}
    ports, icmps = _neutral_ports(net, allowing, direction, indexes)
    if ports is EVERY_PORT:
        return rule
    written: list[dict[str, Any]] = []
    for port in ports:
        if isinstance(allowing, CiliumAllowing):
            written.append(port)  # as written in the allowing CNP
            continue
        item: dict[str, Any] = {"port": "0" if port["port"] is None else str(port["port"]),
                                "protocol": port["protocol"] or "ANY"}
        if port.get("endPort") is not None:
            item["endPort"] = port["endPort"]
        if item not in written:
            written.append(item)
    if written:
        rule["toPorts"] = [{"ports": written}]
    if icmps:
        rule["icmps"] = icmps
    return rule


def admin_counterpart(net: Network, allowing: AdminAllowing, direction: str,
                      indexes: frozenset[int], namespace: str) -> dict[str, Any]:
    """A NetworkPolicy rule in `direction` mirroring an admin policy's Allow rules at
    `indexes`: from (or to) the subject's podSelector in `namespace`, on their ports."""
    peer = {"namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}},
            "podSelector": _selector(allowing)}
    rule: dict[str, Any] = {"to" if direction == "Egress" else "from": [peer]}
    ports, _icmps = _neutral_ports(net, allowing, direction, indexes)
    if ports is EVERY_PORT:
        return rule
    written: list[dict[str, Any]] = []
    for port in ports:
        protocols = _named_protocols(net, port["port"]) if port["protocol"] is None \
            else [port["protocol"]]
        for protocol in protocols:
            item: dict[str, Any] = {"protocol": protocol}
            if port["port"] is not None:
                item["port"] = port["port"]
            if port.get("endPort") is not None:
                item["endPort"] = port["endPort"]
            if item not in written:
                written.append(item)
    rule["ports"] = written
    return rule
