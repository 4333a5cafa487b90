"""How narrowly a policy's peer names the other side: the evidence one-sided-allow weighs.

An ingress rule admitting "every `tier: web` pod of team pay's namespaces" is a permission,
not a statement that each of those pods means to call: least privilege on the other side
routinely denies most of them, as designed. A rule that names its peer narrowly (egress to
`app: payments` in namespace `pay`, ingress from `app: api` in namespace `shop`) is a
statement about one connection, and a denial on the other side is then a likely outage.

A peer is

* **narrow** when it names both the namespace and the workload: the namespace is the
  policy's own (no namespaceSelector) or is named (`kubernetes.io/metadata.name`, or a
  label whose value is the namespace's own name, the old `name: shop` convention), and the
  podSelector pins an identity label to values (matchLabels, or `In`): a label that names
  a workload rather than a class of pods (fixes/label_roles.py: LabelRoles);
* **broad** when it is explicit but names a class: namespaces chosen by other labels
  (`team`, `env`) or all namespaces, a podSelector on class labels only (`tier: web`,
  `role`, `NotIn`, `Exists`), or no podSelector (every pod of the namespaces);
* **none** for `{}` peers (every pod of the namespace, or of every namespace) and ipBlocks:
  they admit whoever comes.
"""

from __future__ import annotations

from collections.abc import Mapping

from netpol_fix.fixes.label_roles import LabelRoles
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.objects import Namespace
from netpol_fix.model.policy import Peer
from netpol_fix.model.selectors import LabelSelector

NARROW, BROAD, NONE = "narrow", "broad", "none"


def is_explicit(peer: Peer) -> bool:
    """A peer that names someone: not `namespaceSelector: {}` (every pod) nor a bare
    `podSelector: {}` (every pod of the namespace): those admit whoever comes."""
    if peer.ip_block is not None:
        return False
    ns, pod = peer.namespace_selector, peer.pod_selector
    return not ((ns is None or ns.is_empty) and (pod is None or pod.is_empty))


class Evidence:
    """Classifies peers against one inventory; memoised by selector."""

    def __init__(self, roles: LabelRoles, namespaces: Mapping[str, Namespace]) -> None:
        self.roles = roles
        self._namespaces = namespaces
        self._cache: dict[tuple[LabelSelector | None, LabelSelector | None], str] = {}

    def namespace_named(self, selector: LabelSelector | None) -> bool:
        """The peer's namespaces are named: its own (no selector), by the automatic name
        label, or by a label whose every value is the name of a namespace carrying it."""
        if selector is None:
            return True
        for req in selector.requirements():
            if req.operator != "In":
                continue
            if req.key == NAME_LABEL:
                return True
            if all(name in self._namespaces
                   and self._namespaces[name].labels.get(req.key) == name
                   for name in req.values):
                return True
        return False

    def of(self, peer: Peer) -> str:
        """NARROW, BROAD or NONE (see the module docstring)."""
        if not is_explicit(peer):
            return NONE
        key = (peer.namespace_selector, peer.pod_selector)
        level = self._cache.get(key)
        if level is None:
            narrow = self.namespace_named(peer.namespace_selector) \
                and self.roles.names_workload(peer.pod_selector)
            level = self._cache[key] = NARROW if narrow else BROAD
        return level
