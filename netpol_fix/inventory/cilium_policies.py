"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy parsed for the engine and validated
as the CRD and the agent's sanitizer do (cilium pkg/policy/api): what they reject is a
PolicyError naming the path, so the user gets file:line and the policy is left out of the
engine. The raw objects stay in Inventory.cilium_policies for the rules that read them.

Label keys follow Cilium: a `k8s:` or `any:` source prefix is dropped;
`io.kubernetes.pod.namespace` is the namespace's name and
`io.cilium.k8s.namespace.labels.<key>` a namespace label (both become a namespace
selector); an endpoint selector without either is the policy's own namespace (a CNP) or
any namespace (a CCNP).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from netpol_fix.inventory.policies import PolicyError
from netpol_fix.inventory.selectors import SelectorError, parse_selector
from netpol_fix.model.cilium_policy import (
    CCNP_KIND,
    CNP_KIND,
    ENTITIES,
    CiliumEndpoints,
    CiliumPolicy,
    CiliumPort,
    CiliumRule,
    CiliumRuleSet,
)
from netpol_fix.model.objects import SourceObject
from netpol_fix.model.policy import IPBlock

Path = tuple[str | int, ...]
Problem = tuple[str, Path, str]
NAME_LABEL = "kubernetes.io/metadata.name"
NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
CLUSTER_KEY = "io.cilium.k8s.policy.cluster"
PREFIXES = ("k8s:", "any:")
SECTIONS = (("ingress", "Ingress", False), ("ingressDeny", "Ingress", True),
            ("egress", "Egress", False), ("egressDeny", "Egress", True))
PEERS = {
    "Ingress": {"endpoints": "fromEndpoints", "cidr": "fromCIDR", "cidrset": "fromCIDRSet",
                "entities": "fromEntities", "requires": "fromRequires"},
    "Egress": {"endpoints": "toEndpoints", "cidr": "toCIDR", "cidrset": "toCIDRSet",
               "entities": "toEntities", "requires": "toRequires"},
}
RUNTIME = {"Ingress": ("fromGroups", "fromNodes"),
           "Egress": ("toFQDNs", "toServices", "toGroups", "toNodes")}
L7_KEYS = ("http", "kafka", "dns", "l7proto", "l7")
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_OPERATORS_LOWER = {o.lower(): o for o in _OPERATORS}
PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "SCTP": ("SCTP",), "ANY": ("TCP", "UDP", "SCTP")}


class _Reader:
    """One policy's parse: collects warnings (valid but not modelled) as it goes."""

    def __init__(self, kind: str, namespace: str | None) -> None:
        self.kind = kind
        self.namespace = namespace
        self.warnings: list[tuple[str, Path]] = []

    # ----- selectors -----------------------------------------------------------------
    def endpoints(self, raw: Any, path: Path, own_namespace: bool = True) -> CiliumEndpoints:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise PolicyError("an endpoint selector must be a mapping", path)
        pod: dict[str, Any] = {"matchLabels": {}, "matchExpressions": []}
        ns: dict[str, Any] = {"matchLabels": {}, "matchExpressions": []}
        constrained = never = False
        labels = raw.get("matchLabels") or {}
        if not isinstance(labels, dict):
            raise PolicyError("matchLabels must be a mapping", path + ("matchLabels",))
        for key, value in labels.items():
            target, name = self._key(str(key), path + ("matchLabels", key))
            never = never or target == "never"
            if target in ("drop", "never"):
                continue
            if target == "ns":
                constrained = True
                ns["matchLabels"][name] = value
            else:
                pod["matchLabels"][name] = value
        exprs = raw.get("matchExpressions") or []
        if not isinstance(exprs, list):
            raise PolicyError("matchExpressions must be a list", path + ("matchExpressions",))
        for i, expr in enumerate(exprs):
            if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
                raise PolicyError("a matchExpressions item needs a key",
                                  path + ("matchExpressions", i))
            target, name = self._key(expr["key"], path + ("matchExpressions", i, "key"))
            never = never or target == "never"
            if target in ("drop", "never"):
                continue
            item = {**expr, "key": name}
            operator = item.get("operator")
            if isinstance(operator, str) and operator not in _OPERATORS \
                    and operator.lower() in _OPERATORS_LOWER:
                item["operator"] = _OPERATORS_LOWER[operator.lower()]
                self.warnings.append(((f"operator {operator!r} read as "
                                      f"{item['operator']!r}"), path + ("matchExpressions", i)))
            if target == "ns":
                constrained = True
                ns["matchExpressions"].append(item)
            else:
                pod["matchExpressions"].append(item)
        if self.kind == CNP_KIND and own_namespace and not constrained:
            ns["matchLabels"][NAME_LABEL] = self.namespace
            constrained = True
        try:
            pod_selector = parse_selector(pod)
            ns_selector = parse_selector(ns) if constrained else None
        except SelectorError as err:
            raise PolicyError(f"selector error: {err}", path) from None
        return CiliumEndpoints(pod_selector, ns_selector, never)

    def _key(self, key: str, path: Path) -> tuple[str, str]:
        """('pod'|'ns'|'drop', label key) for a Cilium label key."""
        for prefix in PREFIXES:
            key = key.removeprefix(prefix)
        if key == NAMESPACE_KEY:
            return "ns", NAME_LABEL
        if key.startswith(NAMESPACE_LABELS):
            return "ns", key[len(NAMESPACE_LABELS):]
        if key == CLUSTER_KEY:
            self.warnings.append(((f"{CLUSTER_KEY} is read as this cluster (one cluster is "
                                  "analysed)"), path))
            return "drop", key
        if ":" in key:
            self.warnings.append(((f"label {key!r} of another source (reserved:, cidr:, ...): "
                                  "such identities are not pods, so this selector matches no "
                                  "pod here"), path))
            return "never", key
        return "pod", key

    # ----- rules -----------------------------------------------------------------------
    def rule(self, raw: Any, section: str, direction: str, deny: bool, index: int,
             path: Path) -> CiliumRule:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise PolicyError(f"a {section} rule must be a mapping", path)
        names = PEERS[direction]
        endpoints = []
        l3 = False
        if names["endpoints"] in raw:
            l3 = True
            items = raw[names["endpoints"]] or []
            if not isinstance(items, list):
                raise PolicyError(f"{names['endpoints']} must be a list",
                                  path + (names["endpoints"],))
            endpoints = [self.endpoints(e, path + (names["endpoints"], j))
                         for j, e in enumerate(items)]
        if raw.get(names["requires"]):
            self.warnings.append(((f"{names['requires']} is deprecated (MaxItems=0 in current "
                                  "Cilium) and ignored"), path + (names["requires"],)))
        entities: list[str] = []
        if names["entities"] in raw:
            l3 = True
            items = raw[names["entities"]] or []
            if not isinstance(items, list):
                raise PolicyError(f"{names['entities']} must be a list",
                                  path + (names["entities"],))
            for j, entity in enumerate(items):
                if entity not in ENTITIES:
                    raise PolicyError(f"unknown entity {entity!r} (one of {', '.join(ENTITIES)})",
                                      path + (names["entities"], j))
                entities.append(str(entity))
        cidrs: list[IPBlock] = []
        if names["cidr"] in raw:
            l3 = True
            items = raw[names["cidr"]] or []
            if not isinstance(items, list):
                raise PolicyError(f"{names['cidr']} must be a list", path + (names["cidr"],))
            cidrs += [IPBlock(_cidr(text, path + (names["cidr"], j)))
                      for j, text in enumerate(items)]
        if names["cidrset"] in raw:
            l3 = True
            items = raw[names["cidrset"]] or []
            if not isinstance(items, list):
                raise PolicyError(f"{names['cidrset']} must be a list",
                                  path + (names["cidrset"],))
            for j, item in enumerate(items):
                here = path + (names["cidrset"], j)
                if not isinstance(item, dict):
                    raise PolicyError("a CIDRSet item must be a mapping", here)
                if "cidr" not in item:
                    self.warnings.append((("cidrGroupRef/cidrGroupSelector: the group's CIDRs "
                                          "are decided at run time; matches nothing here"), here))
                    continue
                cidr = _cidr(item["cidr"], here + ("cidr",))
                excepts = []
                for k, text in enumerate(item.get("except") or []):
                    ex = _cidr(text, here + ("except", k))
                    if ex.version != cidr.version or not ex.subnet_of(cidr):  # type: ignore[arg-type]
                        raise PolicyError(f"except {text!r} is not inside cidr {item['cidr']!r}",
                                          here + ("except", k))
                    excepts.append(ex)
                cidrs.append(IPBlock(cidr, tuple(excepts)))
        runtime = [name for name in RUNTIME[direction] if raw.get(name)]
        if runtime:
            l3 = True
        if "toFQDNs" in runtime and (endpoints or entities or cidrs):
            self.warnings.append((("toFQDNs cannot be combined with other To* peers in one "
                                  "rule (Cilium rejects it at run time)"), path))
        ports, l7 = self._ports(raw.get("toPorts"), deny, path + ("toPorts",))
        icmp = bool(raw.get("icmps"))
        has_l4 = raw.get("toPorts") is not None or icmp
        all_peers = not l3 and has_l4
        runtime_all = tuple(runtime) + tuple(l7)
        return CiliumRule(direction, index, section, deny, tuple(endpoints), tuple(entities),
                          tuple(cidrs), all_peers, tuple(ports), icmp, runtime_all, tuple(l7))

    def _ports(self, raw: Any, deny: bool, path: Path) -> tuple[list[CiliumPort], list[str]]:
        if raw is None:
            return [], []
        if not isinstance(raw, list):
            raise PolicyError("toPorts must be a list", path)
        ports: list[CiliumPort] = []
        l7: list[str] = []
        for i, entry in enumerate(raw):
            here = path + (i,)
            if not isinstance(entry, dict):
                raise PolicyError("a toPorts item must be a mapping", here)
            items = entry.get("ports") or []
            if not isinstance(items, list):
                raise PolicyError("ports must be a list", here + ("ports",))
            for j, item in enumerate(items):
                ports.append(_port(item, here + ("ports", j)))
            rules = entry.get("rules")
            if isinstance(rules, dict):
                kinds = [k for k in L7_KEYS if rules.get(k)]
                if deny and kinds:
                    raise PolicyError("deny rules cannot carry L7 rules (PortDenyRules has no "
                                      "`rules`)", here + ("rules",))
                where = ", ".join(str(p) for p in ports) or "its ports"
                l7 += [f"L7 {kind} rules on {where}" for kind in kinds]
            for key in ("terminatingTLS", "originatingTLS", "serverNames", "listener"):
                if entry.get(key):
                    l7.append(f"{key} on {', '.join(str(p) for p in ports) or 'its ports'}")
        return ports, l7


def _cidr(text: Any, path: Path) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(text, str):
        raise PolicyError(f"invalid CIDR {text!r}", path)
    try:
        return ipaddress.ip_network(text.strip() if "/" in text else
                                    text.strip() + ("/32" if ":" not in text else "/128"),
                                    strict=False)
    except ValueError as err:
        raise PolicyError(f"invalid CIDR {text!r}: {err}", path) from None


def _port(raw: Any, path: Path) -> CiliumPort:
    if not isinstance(raw, dict):
        raise PolicyError("a port must be a mapping", path)
    protocol = str(raw.get("protocol") or "ANY").upper()
    if protocol not in PROTOCOLS:
        raise PolicyError(f"protocol {raw.get('protocol')!r} is not modelled here (TCP, UDP, "
                          "SCTP, ANY)", path + ("protocol",))
    protocols = PROTOCOLS[protocol]
    value = raw.get("port")
    end = raw.get("endPort")
    if value is None or value in ("0", 0):
        return CiliumPort(protocols)
    text = str(value)
    if not text.isdigit():
        if end is not None:
            raise PolicyError("endPort cannot be set with a named port", path + ("endPort",))
        return CiliumPort(protocols, name=text)
    first = int(text)
    if not 1 <= first <= 65535:
        raise PolicyError(f"port {value!r} must be between 1 and 65535", path + ("port",))
    last = first
    if end not in (None, 0):
        if not isinstance(end, int) or isinstance(end, bool) or not first <= end <= 65535:
            raise PolicyError(f"endPort {end!r} must be between port {first} and 65535",
                              path + ("endPort",))
        last = end
    return CiliumPort(protocols, first, last)


def parse_cilium_policy(obj: dict[str, Any], source: SourceObject | None = None
                        ) -> tuple[CiliumPolicy, list[tuple[str, Path]]]:
    kind = str(obj.get("kind"))
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise PolicyError("metadata.name is missing", ("metadata",))
    namespace = (metadata.get("namespace") or "default") if kind == CNP_KIND else None
    reader = _Reader(kind, namespace)
    raw_sets: list[tuple[Path, Any]] = []
    if obj.get("spec") is not None:
        raw_sets.append((("spec",), obj["spec"]))
    if obj.get("specs") is not None:
        if not isinstance(obj["specs"], list):
            raise PolicyError("specs must be a list", ("specs",))
        raw_sets += [(("specs", i), s) for i, s in enumerate(obj["specs"])]
    if not raw_sets:
        raise PolicyError("spec or specs is required", ())
    sets = []
    for index, (path, raw) in enumerate(raw_sets):
        if not isinstance(raw, dict):
            raise PolicyError("a rule set must be a mapping", path)
        has_endpoints = raw.get("endpointSelector") is not None
        has_nodes = raw.get("nodeSelector") is not None
        if has_endpoints and has_nodes:
            raise PolicyError("endpointSelector and nodeSelector are mutually exclusive",
                              path + ("nodeSelector",))
        if not has_endpoints and not has_nodes:
            raise PolicyError("one of endpointSelector or nodeSelector is required", path)
        if has_nodes and kind != CCNP_KIND:
            raise PolicyError("nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy",
                              path + ("nodeSelector",))
        subject = None
        node = None
        if has_endpoints:
            subject = reader.endpoints(raw["endpointSelector"], path + ("endpointSelector",))
        else:
            try:
                node = parse_selector(raw["nodeSelector"])
            except SelectorError as err:
                raise PolicyError(f"selector error: {err}", path + ("nodeSelector",)) from None
            reader.warnings.append((("nodeSelector selects nodes (host firewall): no pod is "
                                    "governed by this rule set"), path + ("nodeSelector",)))
        rules: list[CiliumRule] = []
        touched = {"Ingress": False, "Egress": False}
        for section, direction, deny in SECTIONS:
            items = raw.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                raise PolicyError(f"{section} must be a list of rules", path + (section,))
            if items:
                touched[direction] = True
            rules += [reader.rule(item, section, direction, deny, i, path + (section, i))
                      for i, item in enumerate(items)]
        switch = raw.get("enableDefaultDeny") or {}
        if not isinstance(switch, dict):
            raise PolicyError("enableDefaultDeny must be a mapping", path + ("enableDefaultDeny",))
        default_deny = {d: touched[d] and switch.get(d.lower()) is not False for d in touched}
        sets.append(CiliumRuleSet(index, subject, node, tuple(rules), default_deny))
    policy = CiliumPolicy(kind, namespace, str(metadata["name"]), tuple(sets),
                          str(obj.get("apiVersion", "cilium.io/v2")), source)
    return policy, reader.warnings


def read_cilium_policy(source: SourceObject) -> tuple[CiliumPolicy | None, list[Problem]]:
    """The policy (None when the API server or the agent would reject it) and what to tell
    the user."""
    obj = source.obj
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = f"{meta.get('namespace') or 'default'}/{meta.get('name')}" \
        if obj.get("kind") == CNP_KIND else str(meta.get("name"))
    try:
        policy, warnings = parse_cilium_policy(obj, source)
    except PolicyError as err:
        return None, [((f"{obj.get('kind')} {name} is invalid: {err}; Cilium would reject it, "
                       "left out of the analysis"), err.path, "error")]
    return policy, [(f"{policy} : {message}".replace(" : ", ": ", 1), path, "warning")
                    for message, path in warnings]

