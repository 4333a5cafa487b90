"""one-sided-allow's evidence from admin policies: AdminNetworkPolicy, the
BaselineAdminNetworkPolicy and ClusterNetworkPolicy Allow (v1alpha2 Accept) rules.

An admin Allow decides only the side it governs: network-policy-api's reference, "Allow"
allows the selected traffic "even if it would otherwise have been denied by
NetworkPolicy", for the subject's ingress (an ingress rule) or egress (an egress rule).
The connection still needs the other side, which goes through all of its own tiers, so an
egress Allow from `shop/web` to `data/db` whose destination's ingress is a default deny is
the same silent drop as a NetworkPolicy that names its peer. The evidence is weighed as
for NetworkPolicy peers (peer_evidence.py): a `pods` peer whose namespaceSelector names
the namespace (`kubernetes.io/metadata.name`, or a label whose value is the namespace's
own name) and whose podSelector pins an identity label is narrow; a `namespaces` peer
(every pod of the namespaces) or a `pods` peer over class labels or chosen namespaces is
broad; networks, nodes and domain names name no pod. What the rule admits is what it
decides on its own side: the caller intersects it with that side's tiered verdict (an
earlier Deny or Pass of a higher-priority policy takes the connection first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.model.admin_policy import ALLOW, AdminPeer, AdminPolicy, AdminRule
from netpol_fix.model.objects import SourceObject
from netpol_fix.rules.peer_evidence import BROAD, NARROW, NONE, Evidence


@dataclass(frozen=True)
class AdminAllowing:
    """An admin policy, as the allowing side of a gap."""

    policy: AdminPolicy

    @property
    def key(self) -> str:
        return f"{self.policy.short_kind} {self.policy.name}"

    @property
    def source(self) -> SourceObject | None:
        return self.policy.source

    @property
    def title(self) -> str:
        return f"{self.policy.kind} {self.policy.name}"

    def rules_at(self, direction: str, indexes: frozenset[int]) -> list[AdminRule]:
        return [r for r in self.policy.rules(direction) if r.index in indexes]

    def raw_subject_pods(self) -> dict[str, Any] | None:
        """The subject's podSelector as written (None: a `namespaces` subject, every pod of
        the namespaces)."""
        obj = self.policy.source.obj if self.policy.source is not None else {}
        subject = (obj.get("spec") or {}).get("subject") or {}
        pods = subject.get("pods") if isinstance(subject, dict) else None
        if not isinstance(pods, dict):
            return None
        selector = pods.get("podSelector")
        return selector if isinstance(selector, dict) else {}


def peer_evidence(evidence: Evidence, peer: AdminPeer) -> str:
    """NARROW, BROAD or NONE for one admin peer (see the module docstring)."""
    if not peer.selects_pods or peer.namespace_selector is None:
        return NONE
    if peer.kind == "namespaces":
        return NONE if peer.namespace_selector.is_empty else BROAD
    pods = peer.pod_selector
    if peer.namespace_selector.is_empty and (pods is None or pods.is_empty):
        return NONE  # every pod of every namespace: whoever comes
    if evidence.namespace_named(peer.namespace_selector) and pods is not None \
            and evidence.roles.names_workload(pods):
        return NARROW
    return BROAD


def admin_allow_rules(net: Network, direction: str
                      ) -> Iterator[tuple[AdminAllowing, AdminRule, int]]:
    """(policy, Allow rule, endpoints its subject selects) of the enforced admin and
    baseline policies in `direction`."""
    tiers = net.tiers
    if tiers is None:
        return
    for policy in (*tiers.admin, *tiers.baseline):
        owns = tiers.subject_bits.get(id(policy), 0)
        if not owns:
            continue
        allowing = AdminAllowing(policy)
        for rule in policy.rules(direction):
            if rule.action == ALLOW:
                yield allowing, rule, owns


def admin_evidence_bits(net: Network, evidence: Evidence, rule: AdminRule
                        ) -> tuple[int, int]:
    """Endpoints that the rule's narrow peers match, and those its broad peers match."""
    assert net.tiers is not None
    narrow = broad = 0
    for peer in rule.peers:
        level = peer_evidence(evidence, peer)
        if level == NARROW:
            narrow |= net.tiers.peer_bits(peer)
        elif level == BROAD:
            broad |= net.tiers.peer_bits(peer)
    return narrow, broad
