"""What the cluster's CNI actually enforces, where it differs from the NetworkPolicy API.

NetworkPolicy is enforced by the network plugin, not by the API server, and plugins differ
from the API's text in a few places that decide real verdicts. Every difference lives here,
one entry per CNI, so `explain`, `connectivity`, `diff` and the rules all reason about the
same data path (a verdict that disagrees with `scan` is the worst defect this tool has):

* upstream (the API text, also Calico, Antrea, Weave, unknown): an ipBlock admits a pod
  whose address it holds (the Kubernetes e2e tests expect an egress rule to a pod's IP /32,
  and to a wide CIDR with `except`, to admit that pod), and a hostNetwork endpoint, whose
  traffic carries its node's address. An address is known from `status.podIP(s)`, or, for
  a whole block, from `--pod-cidr` / `--node-cidr`; otherwise no ipBlock is assumed to match.
  Traffic from a pod's own node is always allowed ("traffic to and from the node where a Pod
  is running is always allowed, regardless of the IP address of the Pod or the node",
  kubernetes.io, Network Policies).
* flannel: nothing is enforced; every connection is allowed.
* aws-vpc-cni: the network policy agent writes, per peer address of a pod, at most 24
  {protocol, start port, end port} entries in the order of the rule's ports, and stops
  there, logging "No.of unique port/protocol combinations supported for a single endpoint
  exceeded the supported maximum of 24" (aws/aws-network-policy-agent
  pkg/utils/utils.go `ComputeTrieValue`, TRIE_VALUE_LENGTH 288 bytes = 24 x 12): the
  entries past the 24th are not written, so their ports are denied.
* cilium: ipBlocks (CIDR rules) never match pods or nodes ("CIDR rules do not apply to
  traffic where both sides of the connection are either managed by Cilium or use an IP
  belonging to a node in the cluster (including host networking pods)", Cilium docs,
  Layer 3 policies; cilium/cilium#19601); ICMP is blocked as soon as a rule names ports and
  can be allowed only by a CiliumNetworkPolicy `icmps` rule (Cilium docs, policy language:
  "If any layer 4 policy is specified, then ICMP will be blocked unless it's related to a
  connection that is otherwise allowed"); traffic from the local node (the `host` entity)
  reaches its pods (agent option `--allow-localhost=auto`, cilium/cilium#754).

`netpol-analyzer` is not a CNI but a model: ipBlocks never match pods or nodes (what
netpol-analyzer computes), kept so that its published results can be compared line by line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from netpol_fix.model.policy import IPBlock, PortSpec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

AWS_PORT_ENTRY_LIMIT = 24

NO_POD_ADDRESSES = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "127.0.0.0/8", "fe80::/10", "::1/128"))
"""Link-local and loopback ranges: no pod is ever given such an address, so an ipBlock's
`except` inside them (the cloud metadata endpoint 169.254.169.254, typically) leaves every
pod address in the block."""

UPSTREAM_SOURCE = "kubernetes.io/docs/concepts/services-networking/network-policies"
CILIUM_CIDR_SOURCE = ("docs.cilium.io, Layer 3 policies (IP/CIDR based): CIDR rules do not "
                      "apply to pods or nodes; cilium/cilium#19601")
CILIUM_ICMP_SOURCE = "docs.cilium.io, policy language: ICMP is blocked by any layer 4 policy"
AWS_SOURCE = ("aws/aws-network-policy-agent pkg/utils/utils.go ComputeTrieValue: 24 entries "
              "per peer address")
FLANNEL_SOURCE = ('flannel-io/flannel README: "Flannel is focused on networking. For network '
                  'policy, other projects such as Calico can be used"')


@dataclass(frozen=True)
class CniModel:
    """What one CNI enforces. Build it with `cni_model`, never by hand in callers."""

    name: str = "unknown"
    enforces: bool = True
    """False: NetworkPolicy objects are stored and ignored (Flannel)."""
    ip_blocks_match_pods: bool = True
    """An ipBlock admits a pod whose address it holds (upstream; not Cilium)."""
    ip_blocks_match_nodes: bool = True
    """An ipBlock admits a hostNetwork endpoint whose node address it holds (not Cilium)."""
    port_entry_limit: int | None = None
    """Port entries kept per rule and peer; the rest are not enforced (AWS VPC CNI)."""
    icmp_by_extension: bool = False
    """ICMP can be allowed by the CNI's own policy kind (Cilium `icmps`)."""
    pod_cidr: IPNetwork | None = None
    node_cidr: IPNetwork | None = None
    node_addresses: tuple[str, ...] = ()
    """Every node's address (a cluster that was read): a hostNetwork DaemonSet runs on any
    of them, so an ipBlock admits it when it holds them all."""
    differences: tuple[str, ...] = field(default=())
    """What this CNI changes in a verdict, each with its source (README's CNI table)."""

    @property
    def ip_aware(self) -> bool:
        return self.ip_blocks_match_pods or self.ip_blocks_match_nodes

    def trace_notes(self) -> list[str]:
        """The lines a verdict's trace starts with when the CNI decides before any policy."""
        if not self.enforces:
            return [(f"the CNI is {self.name}, which enforces no NetworkPolicy: every "
                    f"connection is allowed, whatever the policies say ({FLANNEL_SOURCE})")]
        return []

    def cluster_range_of(self, address: IPNetwork) -> str | None:
        """Which of the cluster's own ranges holds the address: "pod CIDR", "node CIDR",
        "node addresses", or None (outside, or not known)."""
        if self.pod_cidr is not None and address.version == self.pod_cidr.version \
                and address.subnet_of(self.pod_cidr):  # type: ignore[arg-type]
            return f"pod CIDR {self.pod_cidr}"
        if self.node_cidr is not None and address.version == self.node_cidr.version \
                and address.subnet_of(self.node_cidr):  # type: ignore[arg-type]
            return f"node CIDR {self.node_cidr}"
        if address.num_addresses == 1 and str(address.network_address) in self.node_addresses:
            return "node addresses"
        return None

    def kept_ports(self, ports: Sequence[PortSpec]) -> tuple[tuple[PortSpec, ...],
                                                            tuple[PortSpec, ...]]:
        """The port entries the CNI enforces and those it drops, in the rule's order
        (identical entries count once, as the agent's PolicyEndpoint holds them)."""
        if self.port_entry_limit is None or len(ports) <= self.port_entry_limit:
            return tuple(ports), ()
        seen: set[tuple[str, int | str | None, int | None]] = set()
        kept: list[PortSpec] = []
        dropped: list[PortSpec] = []
        for spec in ports:
            key = (spec.protocol, spec.port, spec.end_port)
            if key in seen:
                continue
            seen.add(key)
            (kept if len(kept) < self.port_entry_limit else dropped).append(spec)
        return tuple(kept), tuple(dropped)


DIFFERENCES: dict[str, tuple[str, ...]] = {
    "upstream": (
        ("an ipBlock admits a pod or node whose address it holds (status.podIP, or the whole "
        f"--pod-cidr / --node-cidr) ({UPSTREAM_SOURCE}; Kubernetes e2e network policy tests)"),),
    "flannel": (f"enforces no NetworkPolicy: every connection is allowed ({FLANNEL_SOURCE})",),
    "cilium": (
        f"ipBlocks never match pods or nodes ({CILIUM_CIDR_SOURCE})",
        (f"ICMP needs a CiliumNetworkPolicy `icmps` rule once a rule names ports "
        f"({CILIUM_ICMP_SOURCE})"),
        ("traffic from the local node reaches its pods (--allow-localhost=auto, "
        "cilium/cilium#754)")),
    "aws-vpc-cni": (
        (f"only the first {AWS_PORT_ENTRY_LIMIT} port entries of a rule are enforced per "
        f"peer; the rest are denied ({AWS_SOURCE})"),),
    "netpol-analyzer": ("netpol-analyzer's model: ipBlocks never match pods or nodes",),
}
"""What each CNI changes in a verdict, with its source: the one place per CNI."""


def cni_model(name: str | None, analyzer: bool = False, pod_cidr: str | None = None,
              node_cidr: str | None = None, node_addresses: tuple[str, ...] = ()) -> CniModel:
    """The model for a `--cni` value; `analyzer` selects netpol-analyzer's ipBlock model."""
    name = name or "unknown"
    if name == "auto":
        name = "unknown"
    base = CniModel(name, pod_cidr=_network(pod_cidr), node_cidr=_network(node_cidr),
                    node_addresses=node_addresses)
    if analyzer:
        return replace(base, ip_blocks_match_pods=False, ip_blocks_match_nodes=False,
                       differences=DIFFERENCES["netpol-analyzer"])
    if name == "flannel":
        return replace(base, enforces=False, differences=DIFFERENCES[name])
    if name == "cilium":
        return replace(base, ip_blocks_match_pods=False, ip_blocks_match_nodes=False,
                       icmp_by_extension=True, differences=DIFFERENCES[name])
    if name == "aws-vpc-cni":
        return replace(base, port_entry_limit=AWS_PORT_ENTRY_LIMIT,
                       differences=DIFFERENCES[name])
    return replace(base, differences=DIFFERENCES["upstream"])


UPSTREAM = CniModel()


def _network(text: str | None) -> IPNetwork | None:
    if not text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def holds_no_pod(network: IPNetwork) -> bool:
    """Whether a range lies inside link-local or loopback space, where no pod lives."""
    return any(network.version == reserved.version
               and network.subnet_of(reserved)  # type: ignore[arg-type]
               for reserved in NO_POD_ADDRESSES)


def holds_whole(block: IPBlock, cidr: IPNetwork | None) -> bool:
    """Whether every address of `cidr` is admitted by the block: the block contains it and
    no `except` overlaps it. With no CIDR known, only a /0 whose excepts hold no pod does."""
    if cidr is None:
        return block.cidr.prefixlen == 0 and all(holds_no_pod(ex) for ex in block.excepts)
    return (cidr.version == block.cidr.version
            and cidr.subnet_of(block.cidr)  # type: ignore[arg-type]
            and not any(cidr.overlaps(ex) for ex in block.excepts))  # type: ignore[arg-type]


def block_admits_ips(block: IPBlock, ips: Iterable[str]) -> bool | None:
    """True when the block admits every address, False when it admits none, None when
    some only (or no address is given)."""
    results = set()
    for text in ips:
        try:
            results.add(block.contains(ipaddress.ip_address(text)))
        except ValueError:
            continue
    if len(results) != 1:
        return None
    return results.pop()
