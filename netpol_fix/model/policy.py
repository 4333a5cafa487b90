"""NetworkPolicy (networking.k8s.io/v1) parsed and validated as the API server does.

The parsed form keeps the distinctions that decide traffic and that naive readers lose:
- `policyTypes` omitted: Ingress always, plus Egress when `spec.egress` has at least one
  rule (`egress: []` does not make a policy egress-isolating);
- a rule without `from`/`to` (or with an empty list) admits every peer; a rule list that is
  empty or absent admits nothing, while `ingress: [{}]` admits everything;
- a peer with only `podSelector` selects pods of the policy's own namespace; with only
  `namespaceSelector`, all pods of the matching namespaces; with both, the intersection;
- ports without `protocol` mean TCP; no ports means every port and protocol; a named port
  is resolved on the destination pod's containers; `endPort` needs a numeric `port`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from netpol_fix.model.connset import MAX_PORT, ConnSet
from netpol_fix.model.objects import ContainerPort, ObjectRef, SourceObject
from netpol_fix.model.selectors import LabelSelector

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
DIRECTIONS = ("Ingress", "Egress")
SUPPORTED_API_VERSIONS = ("networking.k8s.io/v1",)
LEGACY_API_VERSIONS = ("extensions/v1beta1",)


def is_port_name(text: str) -> bool:
    """A valid named port (the API's IsValidPortName, an IANA_SVC_NAME): 1-15 characters
    of a-z, 0-9 and '-', at least one letter, no '-' at either end, no '--'."""
    return (0 < len(text) <= 15 and bool(_SVC_NAME.match(text)) and "--" not in text
            and any(c.isalpha() for c in text))


@dataclass(frozen=True)
class IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.version != self.cidr.version or address not in self.cidr:
            return False
        return not any(address in ex for ex in self.excepts)

    def excepted_by(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> IPNetwork | None:
        for ex in self.excepts:
            if address.version == ex.version and address in ex:
                return ex
        return None

    def intervals(self, version: int = 4) -> list[tuple[int, int]]:
        """The addresses the block admits, as sorted disjoint inclusive integer intervals."""
        if self.cidr.version != version:
            return []
        result = [(int(self.cidr.network_address), int(self.cidr.broadcast_address))]
        for ex in sorted(self.excepts, key=lambda n: int(n.network_address)):
            lo, hi = int(ex.network_address), int(ex.broadcast_address)
            next_result = []
            for a, b in result:
                if hi < a or lo > b:
                    next_result.append((a, b))
                    continue
                if a < lo:
                    next_result.append((a, lo - 1))
                if hi < b:
                    next_result.append((hi + 1, b))
            result = next_result
        return result

    def __str__(self) -> str:
        if self.excepts:
            return f"{self.cidr} except {', '.join(str(e) for e in self.excepts)}"
        return str(self.cidr)


@dataclass(frozen=True)
class Peer:
    """One `from`/`to` entry. Exactly one of (selectors) or ip_block is set."""

    index: int
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    def __str__(self) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block}"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector}")
        return " and ".join(parts)


@dataclass(frozen=True)
class PortSpec:
    protocol: str
    port: int | str | None = None
    end_port: int | None = None

    @property
    def is_named(self) -> bool:
        return isinstance(self.port, str)

    def numeric(self) -> ConnSet:
        """The ports this spec admits when it is not a named port."""
        return self._numeric

    @functools.cached_property
    def _numeric(self) -> ConnSet:
        if self.port is None:
            return ConnSet.ports(self.protocol, 1, MAX_PORT)
        assert isinstance(self.port, int)
        return ConnSet.ports(self.protocol, self.port, self.end_port or self.port)

    def resolve(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        """The ports admitted on a destination with these container ports."""
        if not self.is_named:
            return self.numeric()
        result = ConnSet.none()
        for cp in container_ports:
            if cp.name == self.port and cp.protocol == self.protocol:
                result = result | ConnSet.ports(self.protocol, cp.port)
        return result

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.protocol} (all ports)"
        if self.end_port:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True)
class Rule:
    direction: str
    index: int
    peers: tuple[Peer, ...]
    """Empty means every peer (no `from`/`to`, or an empty list)."""
    ports: tuple[PortSpec, ...]
    """Empty means every port and protocol."""

    @property
    def all_peers(self) -> bool:
        return not self.peers

    @functools.cached_property
    def has_named_ports(self) -> bool:
        """(Cached: asked for every pair in all-pairs loops; a frozen dataclass without
        slots keeps the value in its __dict__.)"""
        return any(p.is_named for p in self.ports)

    def numeric_conns(self) -> ConnSet:
        """What the rule admits, leaving out named ports (they depend on the destination)."""
        return self._numeric_conns

    @functools.cached_property
    def _numeric_conns(self) -> ConnSet:
        """(Cached like has_named_ports: pair loops ask again and again, and a set of high
        ports is a kilobyte-sized integer to build.)"""
        if not self.ports:
            return ConnSet.all()
        result = ConnSet.none()
        for spec in self.ports:
            if not spec.is_named:
                result = result | spec.numeric()
        return result

    def conns_for(self, container_ports: tuple[ContainerPort, ...]) -> ConnSet:
        """What the rule admits towards a destination with these container ports."""
        if not self.ports:
            return ConnSet.all()
        result = ConnSet.none()
        for spec in self.ports:
            result = result | spec.resolve(container_ports)
        return result

    @property
    def label(self) -> str:
        return f"{self.direction.lower()} rule #{self.index + 1}"


@dataclass(frozen=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: tuple[str, ...]
    """Effective policyTypes, after API defaulting."""
    policy_types_explicit: bool
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    api_version: str = "networking.k8s.io/v1"
    source: SourceObject | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, "NetworkPolicy", self.namespace, self.name)

    def isolates(self, direction: str) -> bool:
        return direction in self.policy_types

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == "Ingress" else self.egress

    def __str__(self) -> str:
        return f"NetworkPolicy {self.key}"
