"""Defensive reading of CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy objects.

The inventory keeps Cilium policies as raw SourceObjects: the CRDs are large, versions
differ, and repositories hold hand-written ones with odd shapes. The Cilium rules only need
a few fields, so this module reads those and skips anything that is not the expected shape
instead of failing the scan. A policy has `spec` (one rule set) and/or `specs` (a list).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netpol_fix.model.objects import ObjectRef, SourceObject

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CIDR_FIELDS = {
    "ingress": ("fromCIDR", "fromCIDRSet"),
    "ingressDeny": ("fromCIDR", "fromCIDRSet"),
    "egress": ("toCIDR", "toCIDRSet"),
    "egressDeny": ("toCIDR", "toCIDRSet"),
}
K8S_PREFIXES = ("k8s:", "any:")


def cilium_ref(source: SourceObject) -> ObjectRef:
    obj = source.obj
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    namespace = None if obj.get("kind") == "CiliumClusterwideNetworkPolicy" else (
        meta.get("namespace") or "default")
    return ObjectRef(str(obj.get("apiVersion", "cilium.io/v2")), str(obj.get("kind")),
                     namespace, str(meta.get("name", "")))


def rule_specs(source: SourceObject) -> Iterator[dict[str, Any]]:
    """Every rule set of the policy: `spec`, then the items of `specs`, mappings only."""
    obj = source.obj
    if isinstance(obj.get("spec"), dict):
        yield obj["spec"]
    specs = obj.get("specs")
    if isinstance(specs, list):
        yield from (s for s in specs if isinstance(s, dict))


def rules_of(spec: dict[str, Any], section: str) -> list[dict[str, Any]]:
    rules = spec.get(section)
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


@dataclass(frozen=True)
class CidrEntry:
    """One CIDR of a rule, with the excepts of its CIDRSet entry."""

    section: str
    field: str
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def __str__(self) -> str:
        text = f"{self.field} {self.cidr}"
        if self.excepts:
            text += " except " + ", ".join(str(e) for e in self.excepts)
        return text


def _network(text: Any) -> IPNetwork | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None  # a template placeholder or a typo: not ours to report


def cidr_entries(source: SourceObject) -> Iterator[CidrEntry]:
    """The CIDRs of every ingress/egress (and deny) rule; cidrGroupRef entries are skipped."""
    for spec in rule_specs(source):
        for section, (plain, cidr_set) in CIDR_FIELDS.items():
            for rule in rules_of(spec, section):
                for text in rule.get(plain) or [] if isinstance(rule.get(plain), list) else []:
                    network = _network(text)
                    if network is not None:
                        yield CidrEntry(section, plain, network)
                items = rule.get(cidr_set)
                for item in items if isinstance(items, list) else []:
                    if not isinstance(item, dict):
                        continue
                    network = _network(item.get("cidr"))
                    if network is None:
                        continue
                    raw_excepts = item.get("except")
                    excepts = tuple(n for n in (_network(e) for e in raw_excepts)
                                    if n is not None) if isinstance(raw_excepts, list) else ()
                    yield CidrEntry(section, cidr_set, network, excepts)


def strip_source_prefix(key: str) -> str:
    for prefix in K8S_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def normalized_selector(raw: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A comparable form of an endpointSelector or podSelector: label sources stripped."""
    if not isinstance(raw, dict):
        return (), ()
    raw_labels = raw.get("matchLabels")
    labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
    expressions = raw.get("matchExpressions")
    exprs = tuple(sorted(repr(sorted((str(k), strip_source_prefix(str(v)) if k == "key" else
                                      repr(v)) for k, v in e.items()))
                         for e in expressions if isinstance(e, dict))) \
        if isinstance(expressions, list) else ()
    return tuple(sorted((strip_source_prefix(str(k)), str(v)) for k, v in labels.items())), exprs


def allows_icmp_ingress(source: SourceObject, namespace: str, pod_selector: Any) -> bool:
    """Whether this Cilium policy, in `namespace`, has an ingress rule with `icmps` for
    exactly the endpoints `pod_selector` selects (same selector after normalisation)."""
    ref = cilium_ref(source)
    if ref.kind != "CiliumNetworkPolicy" or ref.namespace != namespace:
        return False
    wanted = normalized_selector(pod_selector)
    for spec in rule_specs(source):
        if normalized_selector(spec.get("endpointSelector")) != wanted:
            continue
        if any(rule.get("icmps") for rule in rules_of(spec, "ingress")):
            return True
    return False
