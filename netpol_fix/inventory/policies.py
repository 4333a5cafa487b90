"""NetworkPolicy objects parsed and validated as the API server does (see
netpol_fix.model.policy for what the parsed form keeps). Parsing belongs to the
inventory; the engine, rules and fixes read the parsed dataclasses.
"""

from __future__ import annotations

import re
from typing import Any

from netpol_fix.inventory.selectors import SelectorError, parse_selector
from netpol_fix.model.cidr import CidrError, parse_cidr
from netpol_fix.model.connset import MAX_PORT, PROTOCOLS
from netpol_fix.model.objects import SourceObject
from netpol_fix.model.policy import (
    DIRECTIONS,
    IPBlock,
    IPNetwork,
    NetworkPolicy,
    Peer,
    PortSpec,
    Rule,
)
from netpol_fix.model.selectors import LabelSelector

_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class PolicyError(ValueError):
    """A NetworkPolicy the API server would reject; `path` points into the object."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def parse_network_policy(
    obj: dict[str, Any], default_namespace: str = "default", source: SourceObject | None = None
) -> NetworkPolicy:
    """Parse and validate; raises PolicyError naming the offending path."""
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PolicyError("metadata must be a mapping", ("metadata",))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError("metadata.name is missing", ("metadata",))
    namespace = metadata.get("namespace") or default_namespace
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise PolicyError("spec must be a mapping", ("spec",))
    pod_selector = _selector(spec.get("podSelector"), ("spec", "podSelector"))
    ingress = _rules(spec, "ingress")
    egress = _rules(spec, "egress")
    raw_types = spec.get("policyTypes")
    if raw_types:
        if not isinstance(raw_types, list):
            raise PolicyError("policyTypes must be a list", ("spec", "policyTypes"))
        for i, t in enumerate(raw_types):
            if t not in DIRECTIONS:
                raise PolicyError(
                    f"policyTypes value {t!r} is not Ingress or Egress", ("spec", "policyTypes", i)
                )
        if len(raw_types) > 2:
            raise PolicyError("policyTypes may list at most 2 values", ("spec", "policyTypes"))
        types = tuple(t for t in DIRECTIONS if t in raw_types)
        explicit = True
    else:
        types = ("Ingress", "Egress") if egress else ("Ingress",)
        explicit = False
    return NetworkPolicy(
        namespace=namespace,
        name=name,
        pod_selector=pod_selector,
        policy_types=types,
        policy_types_explicit=explicit,
        ingress=ingress,
        egress=egress,
        api_version=str(obj.get("apiVersion", "networking.k8s.io/v1")),
        source=source,
    )


def parse_rules(raw_rules: list[Any], direction: str) -> tuple[Rule, ...]:
    """Parse ingress or egress rules on their own (a fix's new rules, before they are part
    of a policy); raises PolicyError like parse_network_policy."""
    return _rules({direction.lower(): raw_rules}, direction.lower())


def _selector(raw: Any, path: tuple[str | int, ...]) -> LabelSelector:
    try:
        return parse_selector(raw)
    except SelectorError as err:
        raise PolicyError(f"selector error: {err}", path + err.path) from None


def _rules(spec: dict[str, Any], field: str) -> tuple[Rule, ...]:
    raw = spec.get(field)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(f"{field} must be a list of rules", ("spec", field))
    direction = "Ingress" if field == "ingress" else "Egress"
    peer_field = "from" if field == "ingress" else "to"
    rules = []
    for i, item in enumerate(raw):
        path: tuple[str | int, ...] = ("spec", field, i)
        if item is None:
            item = {}
        if not isinstance(item, dict):
            raise PolicyError(f"{field} rule must be a mapping", path)
        peers_raw = item.get(peer_field) or []
        if not isinstance(peers_raw, list):
            raise PolicyError(f"{peer_field} must be a list of peers", path + (peer_field,))
        peers = tuple(_peer(p, j, path + (peer_field, j)) for j, p in enumerate(peers_raw))
        ports_raw = item.get("ports") or []
        if not isinstance(ports_raw, list):
            raise PolicyError("ports must be a list", path + ("ports",))
        ports = tuple(_port(p, path + ("ports", j)) for j, p in enumerate(ports_raw))
        rules.append(Rule(direction, i, peers, ports))
    return tuple(rules)


def _peer(raw: Any, index: int, path: tuple[str | int, ...]) -> Peer:
    if not isinstance(raw, dict):
        raise PolicyError("a peer must be a mapping", path)
    has_selector = "podSelector" in raw or "namespaceSelector" in raw
    pod_raw = raw.get("podSelector")
    ns_raw = raw.get("namespaceSelector")
    block_raw = raw.get("ipBlock")
    if block_raw is not None:
        if pod_raw is not None or ns_raw is not None:
            raise PolicyError(
                "a peer cannot have both ipBlock and podSelector/namespaceSelector", path
            )
        return Peer(index, ip_block=_ip_block(block_raw, path + ("ipBlock",)))
    if not has_selector:
        raise PolicyError(
            "a peer must specify podSelector, namespaceSelector or ipBlock (empty peer)", path
        )
    # `podSelector:` with no value is null, which the API server reads as the empty selector
    # when the key is present next to nothing else; with a namespaceSelector beside it, a null
    # podSelector means "all pods of those namespaces", which is the same thing.
    pod = _selector(pod_raw, path + ("podSelector",)) if "podSelector" in raw else None
    ns = _selector(ns_raw, path + ("namespaceSelector",)) if "namespaceSelector" in raw else None
    if pod is None and ns is None:
        raise PolicyError("a peer must specify podSelector, namespaceSelector or ipBlock", path)
    return Peer(index, pod_selector=pod, namespace_selector=ns)


def _network(text: Any, path: tuple[str | int, ...]) -> IPNetwork:
    """As the API server parses it (model/cidr.py: Go's ParseCIDR, leading zeros allowed,
    no zone, no whitespace)."""
    try:
        return parse_cidr(text)
    except CidrError as err:
        raise PolicyError(f"invalid CIDR {text!r}: {err}", path) from None


_BLOCKS: dict[str, IPBlock] = {}
_BLOCKS_MAX = 100_000


def _ip_block(raw: Any, path: tuple[str | int, ...]) -> IPBlock:
    """Parsed ipBlocks are memoised by their text (`repr`), as selectors are (selectors.py):
    the same few blocks repeat across a repository, and Python's ipaddress takes a third of
    parsing a policy with one. Only valid blocks are kept (an error names its own path)."""
    if not isinstance(raw, dict):
        raise PolicyError("ipBlock must be a mapping", path)
    key = repr(raw)
    parsed = _BLOCKS.get(key)
    if parsed is None:
        parsed = _parse_ip_block(raw, path)
        if len(_BLOCKS) < _BLOCKS_MAX:
            _BLOCKS[key] = parsed
    return parsed


def _parse_ip_block(raw: dict[str, Any], path: tuple[str | int, ...]) -> IPBlock:
    cidr = _network(raw.get("cidr"), path + ("cidr",))
    excepts_raw = raw.get("except") or []
    if not isinstance(excepts_raw, list):
        raise PolicyError("except must be a list of CIDRs", path + ("except",))
    excepts = []
    for i, text in enumerate(excepts_raw):
        ex = _network(text, path + ("except", i))
        inside = ex.version == cidr.version and ex.subnet_of(cidr)  # type: ignore[arg-type]
        if not inside or ex.prefixlen <= cidr.prefixlen:
            raise PolicyError(
                f"except {text!r} must be a strict subset of cidr {raw.get('cidr')!r}",
                path + ("except", i),
            )
        excepts.append(ex)
    return IPBlock(cidr, tuple(excepts))


def _port(raw: Any, path: tuple[str | int, ...]) -> PortSpec:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError("a ports entry must be a mapping", path)
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise PolicyError(
            f"protocol {protocol!r} is not supported (TCP, UDP, SCTP)", path + ("protocol",)
        )
    port = raw.get("port")
    end_port = raw.get("endPort")
    if isinstance(port, bool):
        raise PolicyError(f"port {port!r} is not a number or a name", path + ("port",))
    if isinstance(port, str) and port.isdigit():
        # int-or-string: the API server keeps "80" as the name "80", which is not a valid
        # IANA service name (it needs a letter); kubectl users mean the number.
        raise PolicyError(
            f"port {port!r} is a quoted number; write it unquoted", path + ("port",)
        )
    if isinstance(port, int):
        if not 1 <= port <= MAX_PORT:
            raise PolicyError(f"port {port} must be between 1 and 65535", path + ("port",))
    elif isinstance(port, str):
        if len(port) > 15 or not _SVC_NAME.match(port) or "--" in port:
            raise PolicyError(f"port name {port!r} is not a valid IANA service name",
                              path + ("port",))
    elif port is not None:
        raise PolicyError(f"port {port!r} is not a number or a name", path + ("port",))
    if end_port is not None:
        if isinstance(port, str):
            raise PolicyError(
                "endPort cannot be set when port is a named (string) port", path + ("endPort",)
            )
        if port is None:
            raise PolicyError("endPort requires port to be set", path + ("endPort",))
        if not isinstance(end_port, int) or isinstance(end_port, bool):
            raise PolicyError(f"endPort {end_port!r} must be a number", path + ("endPort",))
        if not port <= end_port <= MAX_PORT:
            raise PolicyError(
                f"port range {port}-{end_port} is invalid: endPort must be between port "
                f"and 65535",
                path + ("endPort",),
            )
    return PortSpec(protocol, port, end_port)


def policy_warnings(policy: NetworkPolicy) -> list[tuple[str, tuple[str | int, ...]]]:
    """Valid but suspicious: what the API server accepts and what then matches nothing."""
    warnings: list[tuple[str, tuple[str | int, ...]]] = []
    for rule in policy.egress:
        if rule.peers and all(p.ip_block is not None for p in rule.peers):
            for j, spec in enumerate(rule.ports):
                if spec.is_named:
                    message = (
                        f"egress rule #{rule.index + 1} names port {spec.port!r} but its peers "
                        "are all ipBlocks: a named port resolves on destination pods, so it "
                        "matches nothing for these addresses")
                    warnings.append((
                        message,
                        ("spec", "egress", rule.index, "ports", j, "port")))
    return warnings
