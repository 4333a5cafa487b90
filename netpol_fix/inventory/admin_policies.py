"""AdminNetworkPolicy, BaselineAdminNetworkPolicy (v1alpha1) and ClusterNetworkPolicy
(v1alpha2) parsed and validated as their CRD schemas do (kubernetes-sigs/network-policy-api,
`config/crd/{standard,experimental}/`): what the API server would reject is a PolicyError
naming the path, so the user gets file:line and the object is left out.

Checked as the schemas say: `spec.priority` 0-1000 (required for ANP and v1alpha2); a
`subject` with exactly one of `namespaces`/`pods` (`pods` needs both selectors); at most
100 ingress and 100 egress rules (25 in v1alpha2); rule `name` at most 100 characters;
`action` one of Allow/Deny/Pass (BANP: Allow/Deny; v1alpha2: Accept/Deny/Pass); `from`/`to`
required with 1-100 peers, each with exactly one field; `networks` CIDRs (1-25);
`ports` 1-100 items each with exactly one of portNumber/namedPort/portRange, ports 1-65535,
`end` not below `start`; named ports never beside networks/nodes/domainNames peers; the
BANP named `default`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from netpol_fix.inventory.policies import PolicyError
from netpol_fix.inventory.selectors import SelectorError, parse_selector
from netpol_fix.model.admin_policy import (
    ADMIN_TIER,
    ALLOW,
    ANP_KIND,
    BANP_KIND,
    BASELINE_TIER,
    CNP_V1ALPHA2_KIND,
    DENY,
    PASS,
    V1ALPHA1,
    V1ALPHA2,
    AdminPeer,
    AdminPolicy,
    AdminPort,
    AdminRule,
    IPNetwork,
)
from netpol_fix.model.connset import MAX_PORT, PROTOCOLS
from netpol_fix.model.objects import SourceObject
from netpol_fix.model.selectors import LabelSelector

Path = tuple[str | int, ...]
MIN_PRIORITY, MAX_PRIORITY = 0, 1000
SUPPORTED = {ANP_KIND: (V1ALPHA1,), BANP_KIND: (V1ALPHA1,), CNP_V1ALPHA2_KIND: (V1ALPHA2,)}


def parse_admin_policy(obj: dict[str, Any], source: SourceObject | None = None) -> AdminPolicy:
    """Parse and validate one admin policy; raises PolicyError naming the offending path."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    assert kind in SUPPORTED
    if api_version not in SUPPORTED[kind]:
        raise PolicyError(f"unknown apiVersion {api_version!r} for {kind} (expected "
                          f"{' or '.join(SUPPORTED[kind])})", ("apiVersion",))
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PolicyError("metadata must be a mapping", ("metadata",))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError("metadata.name is missing", ("metadata",))
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError("spec is required and must be a mapping", ("spec",))
    v2 = kind == CNP_V1ALPHA2_KIND
    if kind == BANP_KIND:
        if name != "default":
            raise PolicyError(
                f"a BaselineAdminNetworkPolicy must be named 'default', not {name!r} (only "
                "one baseline admin network policy with metadata.name=default can be "
                "created in the cluster)", ("metadata", "name"))
        tier, priority = BASELINE_TIER, None
        actions: tuple[str, ...] = (ALLOW, DENY)
    else:
        priority = _priority(spec)
        if v2:
            raw_tier = spec.get("tier")
            if raw_tier not in (ADMIN_TIER, BASELINE_TIER):
                raise PolicyError(f"tier {raw_tier!r} must be Admin or Baseline",
                                  ("spec", "tier"))
            tier = str(raw_tier)
            actions = ("Accept", DENY, PASS)
        else:
            tier = ADMIN_TIER
            actions = (ALLOW, DENY, PASS)
    namespaces, pods = _subject(spec.get("subject"))
    max_rules = 25 if v2 else 100
    ingress = _rules(spec, "ingress", actions, max_rules, v2)
    egress = _rules(spec, "egress", actions, max_rules, v2)
    return AdminPolicy(kind, name, tier, priority, namespaces, pods, ingress, egress,
                       str(api_version), source)


def _priority(spec: dict[str, Any]) -> int:
    value = spec.get("priority")
    if value is None:
        raise PolicyError("spec.priority is required", ("spec",))
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"priority {value!r} must be an integer", ("spec", "priority"))
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise PolicyError(f"priority {value} is out of range: it must be between "
                          f"{MIN_PRIORITY} and {MAX_PRIORITY}", ("spec", "priority"))
    return value


def _selector(raw: Any, path: Path) -> LabelSelector:
    try:
        return parse_selector(raw)
    except SelectorError as err:
        raise PolicyError(f"selector error: {err}", path + err.path) from None


def _one_field(raw: Any, allowed: tuple[str, ...], what: str, path: Path) -> str:
    """The one field set in a one-of struct (maxProperties/minProperties 1)."""
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"exactly one field must be set in {what} "
                          f"({', '.join(allowed)}); it is empty", path)
    fields = [k for k, v in raw.items() if v is not None]
    if not fields:
        raise PolicyError(f"exactly one field must be set in {what} "
                          f"({', '.join(allowed)}); it is empty", path)
    unknown = [k for k in fields if k not in allowed]
    if unknown:
        raise PolicyError(f"unknown field {unknown[0]!r} in {what} (expected one of "
                          f"{', '.join(allowed)})", path + (unknown[0],))
    if len(fields) != 1:
        raise PolicyError(f"exactly one field must be set in {what}, not "
                          f"{' and '.join(fields)}", path)
    return fields[0]


def _subject(raw: Any) -> tuple[LabelSelector, LabelSelector | None]:
    path: Path = ("spec", "subject")
    if raw is None:
        raise PolicyError("spec.subject is required: exactly one field must be set in a "
                          "subject (namespaces or pods)", ("spec",))
    field = _one_field(raw, ("namespaces", "pods"), "a subject", path)
    if field == "namespaces":
        return _selector(raw["namespaces"], path + ("namespaces",)), None
    ns, pods = _pods(raw["pods"], path + ("pods",))
    return ns, pods


_LENIENT: list[tuple[str, Path]] = []
"""Schema violations that are reported as errors but analysed anyway (see _pods); filled
while one policy is parsed."""


def _pods(raw: Any, path: Path) -> tuple[LabelSelector, LabelSelector]:
    """`pods{namespaceSelector, podSelector}`. The schema requires both; a missing one is
    an error (the API server rejects the policy), but the policy is still analysed with
    the missing selector read as empty (all), as netpol-analyzer and the Go types' zero
    value read it: earlier drafts of the API and many published examples leave it out,
    and their intent is plain."""
    if not isinstance(raw, dict):
        raise PolicyError("pods must be a mapping with namespaceSelector and podSelector", path)
    for key in ("namespaceSelector", "podSelector"):
        if key not in raw:
            _LENIENT.append(((f"pods.{key} is required: the API server would reject this "
                             f"policy; analysed with {key} {{}} (all), as netpol-analyzer "
                             "reads it"), path))
    return (_selector(raw.get("namespaceSelector"), path + ("namespaceSelector",)),
            _selector(raw.get("podSelector"), path + ("podSelector",)))


def _rules(spec: dict[str, Any], field: str, actions: tuple[str, ...], max_rules: int,
           v2: bool) -> tuple[AdminRule, ...]:
    raw = spec.get(field)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(f"{field} must be a list of rules", ("spec", field))
    if len(raw) > max_rules:
        raise PolicyError(f"{field} has {len(raw)} rules; at most {max_rules} are allowed",
                          ("spec", field, max_rules))
    direction = "Ingress" if field == "ingress" else "Egress"
    return tuple(_rule(item, direction, i, actions, v2, ("spec", field, i))
                 for i, item in enumerate(raw))


def _rule(raw: Any, direction: str, index: int, actions: tuple[str, ...], v2: bool,
          path: Path) -> AdminRule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{direction.lower()} rule must be a mapping", path)
    name = raw.get("name") or ""
    if not isinstance(name, str) or len(name) > 100:
        raise PolicyError("rule name must be a string of at most 100 characters",
                          path + ("name",))
    action = raw.get("action")
    if action not in actions:
        raise PolicyError(f"unrecognized action {action!r}: it must be one of "
                          f"{', '.join(actions)}", path + ("action",) if "action" in raw else path)
    if action == "Accept":
        action = ALLOW
    peer_field = "from" if direction == "Ingress" else "to"
    peers_raw = raw.get(peer_field)
    if not isinstance(peers_raw, list) or not peers_raw:
        raise PolicyError(f"{peer_field} field must be defined and contain at least one item",
                          path + (peer_field,) if peer_field in raw else path)
    if len(peers_raw) > 100:
        raise PolicyError(f"{peer_field} has {len(peers_raw)} peers; at most 100 are allowed",
                          path + (peer_field,))
    allowed = ("namespaces", "pods") if direction == "Ingress" else (
        "namespaces", "pods", "nodes", "networks", "domainNames")
    if v2 and direction == "Ingress":
        allowed = ("namespaces", "pods")
    peers = tuple(_peer(p, j, allowed, path + (peer_field, j)) for j, p in enumerate(peers_raw))
    if v2:
        ports = _protocols(raw.get("protocols"), path + ("protocols",))
    else:
        ports = _ports(raw.get("ports"), path + ("ports",))
    if any(p.name is not None for p in ports) and any(
            p.kind in ("networks", "nodes", "domainNames") for p in peers):
        raise PolicyError("networks/nodes/domainNames peer cannot be set with namedPorts since "
                          "there are no namedPorts for networks/nodes/domainNames", path)
    if v2 and action != ALLOW and any(p.kind == "domainNames" for p in peers):
        raise PolicyError("domainNames peers are only allowed in Accept rules", path)
    return AdminRule(direction, index, name, str(action), peers, ports)


def _peer(raw: Any, index: int, allowed: tuple[str, ...], path: Path) -> AdminPeer:
    field = _one_field(raw, allowed, "a rule peer", path)
    value = raw[field]
    here = path + (field,)
    if field == "namespaces":
        return AdminPeer("namespaces", index, namespace_selector=_selector(value, here))
    if field == "pods":
        ns, pods = _pods(value, here)
        return AdminPeer("pods", index, namespace_selector=ns, pod_selector=pods)
    if field == "nodes":
        return AdminPeer("nodes", index, node_selector=_selector(value, here))
    if not isinstance(value, list) or not 1 <= len(value) <= 25:
        raise PolicyError(f"{field} must be a list of 1 to 25 items", here)
    if field == "networks":
        return AdminPeer("networks", index, networks=tuple(
            _cidr(text, here + (k,)) for k, text in enumerate(value)))
    for k, text in enumerate(value):
        if not isinstance(text, str) or not text:
            raise PolicyError(f"domain name {text!r} must be a non-empty string", here + (k,))
    return AdminPeer("domainNames", index, domain_names=tuple(value))


def _cidr(text: Any, path: Path) -> IPNetwork:
    if not isinstance(text, str) or "/" not in text or len(text) > 43:
        raise PolicyError(f"invalid CIDR address {text!r}: expected address/prefix-length",
                          path)
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as err:
        raise PolicyError(f"invalid CIDR address {text!r}: {err}", path) from None


def _port_number(value: Any, what: str, path: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PORT:
        raise PolicyError(f"{what} {value!r} must be a number between 1 and 65535", path)
    return value


def _protocol(raw: dict[str, Any], path: Path) -> str:
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise PolicyError(f"protocol {protocol!r} is not supported (TCP, UDP, SCTP)",
                          path + ("protocol",))
    return str(protocol)


def _ports(raw: Any, path: Path) -> tuple[AdminPort, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not 1 <= len(raw) <= 100:
        raise PolicyError("ports must be a list of 1 to 100 items", path)
    ports = []
    for j, item in enumerate(raw):
        here = path + (j,)
        field = _one_field(item, ("portNumber", "namedPort", "portRange"),
                           "an AdminNetworkPolicyPort", here)
        value = item[field]
        if field == "namedPort":
            if not isinstance(value, str) or not value:
                raise PolicyError("namedPort must be a port name", here + (field,))
            ports.append(AdminPort(None, name=value))
            continue
        if not isinstance(value, dict):
            raise PolicyError(f"{field} must be a mapping", here + (field,))
        protocol = _protocol(value, here + (field,))
        if field == "portNumber":
            number = _port_number(value.get("port"), "port", here + (field, "port"))
            ports.append(AdminPort(protocol, number, number))
            continue
        start = _port_number(value.get("start"), "start", here + (field, "start"))
        end = _port_number(value.get("end"), "end", here + (field, "end"))
        if end < start:
            raise PolicyError(f"port range {start}-{end} is invalid: end may not be less "
                              "than start", here + (field,))
        ports.append(AdminPort(protocol, start, end))
    return tuple(ports)


def _protocols(raw: Any, path: Path) -> tuple[AdminPort, ...]:
    """v1alpha2 `protocols[{tcp|udp|sctp: {destinationPort: {number|range}}} |
    destinationNamedPort]`; a protocol without destinationPort is every port of it."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not 1 <= len(raw) <= 100:
        raise PolicyError("protocols must be a list of 1 to 100 items", path)
    ports = []
    for j, item in enumerate(raw):
        here = path + (j,)
        field = _one_field(item, ("tcp", "udp", "sctp", "destinationNamedPort"),
                           "a protocol entry", here)
        value = item[field]
        if field == "destinationNamedPort":
            if not isinstance(value, str) or not value:
                raise PolicyError("destinationNamedPort must be a port name", here + (field,))
            ports.append(AdminPort(None, name=value))
            continue
        protocol = field.upper()
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise PolicyError(f"{field} must be a mapping", here + (field,))
        dest = value.get("destinationPort")
        if dest is None:
            ports.append(AdminPort(protocol))
            continue
        where = here + (field, "destinationPort")
        kind = _one_field(dest, ("number", "range"), "a destinationPort", where)
        if kind == "number":
            number = _port_number(dest["number"], "port", where + ("number",))
            ports.append(AdminPort(protocol, number, number))
            continue
        rng = dest["range"]
        if not isinstance(rng, dict):
            raise PolicyError("range must be a mapping with start and end", where + ("range",))
        start = _port_number(rng.get("start"), "start", where + ("range", "start"))
        end = _port_number(rng.get("end"), "end", where + ("range", "end"))
        if end < start:
            raise PolicyError(f"port range {start}-{end} is invalid: end may not be less "
                              "than start", where + ("range",))
        ports.append(AdminPort(protocol, start, end))
    return tuple(ports)


def admin_policy_warnings(policy: AdminPolicy) -> list[tuple[str, Path]]:
    """Valid but not decidable from manifests: said once per policy, with the path."""
    field = {"Ingress": "ingress", "Egress": "egress"}
    warnings: list[tuple[str, Path]] = []
    for direction in ("Ingress", "Egress"):
        for rule in policy.rules(direction):
            peer_field = "from" if direction == "Ingress" else "to"
            for peer in rule.peers:
                path: Path = ("spec", field[direction], rule.index, peer_field, peer.index)
                if peer.kind == "nodes":
                    warnings.append((
                        (f"{rule.label} names nodes ({peer.node_selector}): node addresses "
                        "are not known from manifests, so this peer matches no pod or "
                        "external range here (hostNetwork pods and node addresses are "
                        "decided at run time)"), path))
                elif peer.kind == "domainNames":
                    warnings.append((
                        (f"{rule.label} names domainNames ({', '.join(peer.domain_names)}): "
                        "what they resolve to is decided at run time; this peer matches no "
                        "external range here"), path))
                elif peer.kind == "networks" and any(n.version == 6 for n in peer.networks):
                    warnings.append((
                        (f"{rule.label}: IPv6 networks are kept in explain but connectivity "
                        "lists IPv4 ranges only"), path))
    return warnings


def read_admin_policy(source: SourceObject) -> tuple[AdminPolicy | None, list[Problem]]:
    """The policy (None when the API server would reject it) and what to tell the user."""
    obj = source.obj
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) \
        else None
    _LENIENT.clear()
    try:
        policy = parse_admin_policy(obj, source)
    except PolicyError as err:
        return None, [((f"{obj.get('kind')} {name} is invalid: {err}; the API server would "
                       "reject it, object skipped"), err.path, "error")]
    problems: list[Problem] = []
    if _LENIENT:  # once per policy, at the first place: the same omission is usually repeated
        message, path = _LENIENT[0]
        more = f" ({len(_LENIENT) - 1} more peer(s) like it)" if len(_LENIENT) > 1 else ""
        problems.append((f"{policy.kind} {policy.name} is invalid: {message}{more}", path,
                         "error"))
    _LENIENT.clear()
    return policy, problems + [(f"{policy.kind} {policy.name}: {message}", path, "warning")
                               for message, path in admin_policy_warnings(policy)]


Problem = tuple[str, Path, str]
"""(message, path into the object, severity)."""


def check_admin_set(policies: list[AdminPolicy]) -> tuple[list[AdminPolicy],
                                                         list[tuple[AdminPolicy, Problem]]]:
    """What only the whole set shows: a name used twice for one kind (the second is
    skipped, as the API server keeps one object per name), a second baseline policy (the
    BANP is a singleton), and two admin policies of one tier with the same priority, which
    the API leaves undefined ("there is no way for the user to reliably determine which
    one it will choose"): an error, and they are analysed in name order."""
    kept: list[AdminPolicy] = []
    problems: list[tuple[AdminPolicy, Problem]] = []
    seen: dict[tuple[str, str], AdminPolicy] = {}
    by_priority: dict[tuple[str, str, int | None], AdminPolicy] = {}
    for policy in policies:
        first = seen.get((policy.kind, policy.name))
        if first is not None:
            where = first.source.location if first.source else None
            problems.append((policy, (
                (f"{policy.kind} {policy.name} is defined twice (first at {where}); only one "
                "object of a given kind can have a given name, the second is skipped"),
                ("metadata", "name"), "error")))
            continue
        seen[(policy.kind, policy.name)] = policy
        if policy.kind == BANP_KIND and any(p.kind == BANP_KIND for p in kept):
            problems.append((policy, (
                ("only one BaselineAdminNetworkPolicy may exist (it is a singleton named "
                "'default'); the second is skipped"), ("metadata", "name"), "error")))
            continue
        if policy.priority is not None:
            key = (policy.kind, policy.tier, policy.priority)
            other = by_priority.get(key)
            if other is not None:
                problems.append((policy, (
                    (f"{policy.kind} {policy.name} and {other.name} both have priority "
                    f"{policy.priority}: where they overlap the API leaves the result "
                    "undefined (two policies are considered to be conflicting if they are "
                    "assigned the same priority); analysed in name order"),
                    ("spec", "priority"), "error")))
            else:
                by_priority[key] = policy
        kept.append(policy)
    return kept, problems
