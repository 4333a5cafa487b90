"""namespace-selector-unmatched: a namespaceSelector that matches no namespace.

A peer's namespaceSelector is read against namespace labels, and few namespaces carry the
labels authors assume (`name: payments` is a convention, not something Kubernetes sets).
A selector that matches nothing makes its rule admit nothing, silently. When the selector
names a namespace the sources know (the value `payments` when a namespace `payments`
exists), the intent is clear: label that namespace, or select it by the label the API
server sets on every namespace, `kubernetes.io/metadata.name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from netpol_fix.fixes.effect import flow_changes, flows_opened, patched_policies
from netpol_fix.inventory.build import NAME_LABEL
from netpol_fix.model.findings import ERROR, SAFE, UNSAFE, WARNING, Finding, Fix, Patch
from netpol_fix.model.objects import Namespace, ObjectRef, endpoint_ref
from netpol_fix.model.policy import DIRECTIONS, NetworkPolicy, Peer
from netpol_fix.model.policy import Rule as PolicyRule
from netpol_fix.model.selectors import LabelSelector
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed

SHOWN_NAMESPACES = 10


def escape_pointer(token: str) -> str:
    """One RFC 6901 reference token: `~` and `/` escaped (label keys contain `/`)."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class PeerAt:
    """A peer with the path to it inside the policy object."""

    policy: NetworkPolicy
    rule: PolicyRule
    peer: Peer

    @property
    def selector(self) -> LabelSelector:
        assert self.peer.namespace_selector is not None
        return self.peer.namespace_selector

    @property
    def pointer(self) -> str:
        field = self.rule.direction.lower()
        side = "from" if field == "ingress" else "to"
        return f"/spec/{field}/{self.rule.index}/{side}/{self.peer.index}/namespaceSelector"

    @property
    def label(self) -> str:
        return f"{self.rule.label} peer #{self.peer.index + 1}"


def named_namespaces(selector: LabelSelector) -> set[str]:
    """Namespaces the selector names through the automatic name label."""
    return {v for req in selector.requirements()
            if req.key == NAME_LABEL and req.operator == "In" for v in req.values}


def candidate_values(selector: LabelSelector) -> set[str]:
    """Every value the selector requires a label to have: where a namespace name hides."""
    return {v for req in selector.requirements() if req.operator == "In" for v in req.values}


def labels_to_add(selector: LabelSelector, namespace: Namespace) -> dict[str, str] | None:
    """Labels that, added to the namespace, make the selector match it; None when adding
    cannot (a label would have to change or go away, or it is the automatic name label)."""
    current = dict(namespace.labels)
    added: dict[str, str] = {}
    for req in selector.requirements():
        if req.matches(current | added):
            continue
        if req.key in current or req.key in added or req.key == NAME_LABEL:
            return None
        if req.operator == "In":
            added[req.key] = namespace.name if namespace.name in req.values \
                else min(req.values)
        elif req.operator == "Exists":
            added[req.key] = namespace.name
        else:
            return None
    return added if selector.matches(current | added) else None


def label_operations(namespace: Namespace, added: Mapping[str, str]) -> list[dict[str, Any]]:
    """A test of the name, then the labels added. Only what the fix relies on is tested:
    the object (its name) and, implicitly, each added key being absent (`apply` refuses an
    add over a label the live object already holds with another value). The labels the
    manifest has are not tested: a live Namespace always also carries
    kubernetes.io/metadata.name (and often labels set by controllers), so a test of the
    whole map would refuse the fix on every real cluster."""
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/name",
                                  "value": namespace.name}]
    if namespace.source is None:
        # The live object always has a labels map holding the automatic name label.
        ops.append({"op": "test", "path": f"/metadata/labels/{escape_pointer(NAME_LABEL)}",
                    "value": namespace.name})
        existing: Any = {NAME_LABEL: namespace.name}
    else:
        existing = (namespace.source.obj.get("metadata") or {}).get("labels")
    if isinstance(existing, dict) and existing:
        for key, value in sorted(added.items()):
            ops.append({"op": "add", "path": f"/metadata/labels/{escape_pointer(key)}",
                        "value": value})
    else:
        ops.append({"op": "add", "path": "/metadata/labels", "value": dict(sorted(added.items()))})
    return ops


def describe_labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


class NamespaceSelectorUnmatched(Rule):
    id = "namespace-selector-unmatched"
    severity = ERROR
    applicability = SAFE
    summary = "A namespaceSelector that matches no namespace known to the sources"
    doc = RuleDoc(
        why=(
            "A namespaceSelector matches namespace labels, and the only label every namespace "
            "has is kubernetes.io/metadata.name, set by the API server. Selectors such as "
            "`name: payments` or `team: payments` match only if someone labelled the "
            "namespace so; when nobody did, the peer matches no pod and the rule admits "
            "nothing, without any error. Namespaces named only through "
            "kubernetes.io/metadata.name that the sources do not hold are not reported: they "
            "live outside the repository."),
        example=(
            "ingress:\n- from:\n  - namespaceSelector: {matchLabels: {name: payments}}\n"
            "# namespace payments exists, with no label `name`"),
        fix=(
            "When the selector names exactly one namespace the sources know, label that "
            "Namespace so the selector matches it: its manifest when the sources hold it, "
            "otherwise the live object (the patch tests /metadata/name first). With "
            "--prefer-selector the peer's selector is rewritten instead to "
            "`kubernetes.io/metadata.name: <namespace>`, guarded by a test of the old "
            "selector; the other form is offered as an alternative. When no or several "
            "namespaces could be meant, the finding lists the known namespaces and their "
            "labels and offers no fix."),
        unsafe=(
            "Safe when the intent is unambiguous: the selector names the namespace. Labelling "
            "a namespace is unsafe when the new labels also make it match other "
            "namespaceSelectors (another policy would then admit it too); the fix says which. "
            "If namespaces receive the label at runtime (from a controller, such as Kubeflow "
            "profiles), the finding is expected: suppress it with the annotation "
            "netpol-fix.io/ignore."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        findings = []
        net = ctx.network
        for policy in ctx.inventory.policies:
            if suppressed(self.id, policy.source):
                continue
            for direction in DIRECTIONS:
                for rule in policy.rules(direction):
                    for peer in rule.peers:
                        if peer.namespace_selector is None \
                                or net.namespaces_matching(peer.namespace_selector):
                            continue
                        at = PeerAt(policy, rule, peer)
                        named = named_namespaces(at.selector)
                        if named and not named & set(net.namespace_names):
                            continue  # names namespaces outside the sources
                        findings.append(self._finding(ctx, at))
        return findings

    def _known(self, ctx: Context) -> dict[str, Namespace]:
        return {name: ctx.inventory.namespace(name) for name in ctx.network.namespace_names}

    def _finding(self, ctx: Context, at: PeerAt) -> Finding:
        net = ctx.network
        policy = at.policy
        affected = [endpoint_ref(net.endpoints[i]) for i in ctx.selected_endpoints(policy)]
        known = self._known(ctx)
        candidates = sorted(candidate_values(at.selector) & set(known))
        message = (f"namespaceSelector {at.selector} in {at.label} of NetworkPolicy "
                   f"{policy.key} matches no namespace known to the sources, so this peer "
                   "admits nothing")
        if len(candidates) != 1:
            listing = "; ".join(f"{n} {describe_labels(known[n].labels)}"
                                for n in sorted(known)[:SHOWN_NAMESPACES])
            more = f"; and {len(known) - SHOWN_NAMESPACES} more" \
                if len(known) > SHOWN_NAMESPACES else ""
            why = "several namespaces could be meant" if candidates else \
                "it names no known namespace"
            message += (f"; {why}, so no fix is offered. Known namespaces: {listing}{more}. "
                        "If namespaces get these labels at runtime, suppress this finding.")
            # Without a namespace the selector could mean, the sources cannot tell a typo
            # from labels a controller adds at runtime: a warning, not an error.
            return Finding(self.id, WARNING, policy.ref, policy.source, message, affected)
        namespace = known[candidates[0]]
        message += (f"; namespace {namespace.name} exists with labels "
                    f"{describe_labels(namespace.labels)}")
        fixes = [f for f in (self._label_fix(ctx, at, namespace),
                             self._selector_fix(ctx, at, namespace)) if f is not None]
        if ctx.settings.prefer_selector:
            fixes.reverse()
        fix = fixes[0] if fixes else None
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected,
                       fix, fixes[1:])

    def _label_fix(self, ctx: Context, at: PeerAt, namespace: Namespace) -> Fix | None:
        added = labels_to_add(at.selector, namespace)
        if not added:
            return None
        relabelled = Namespace(namespace.name, dict(namespace.labels) | added,
                               namespace.declared, namespace.source)
        namespaces = dict(ctx.inventory.namespaces) | {namespace.name: relabelled}
        opens, _ = flow_changes(ctx.network, ctx.inventory.policies, namespaces)
        ref = ObjectRef("v1", "Namespace", None, namespace.name)
        patch = Patch(ref, label_operations(namespace, added), namespace.source)
        also = self._other_selectors_matched(ctx, at, namespace, relabelled)
        description = f"label Namespace {namespace.name} with {describe_labels(added)}"
        if namespace.source is None:
            description += (" (the sources hold no manifest for it: the patch targets the "
                            "live Namespace)")
        applicability = SAFE
        if also:
            applicability = UNSAFE
            description += "; it then also matches " + ", ".join(also)
        return Fix(applicability, description, [patch], [], opens)

    def _other_selectors_matched(self, ctx: Context, at: PeerAt, before: Namespace,
                                 after: Namespace) -> list[str]:
        """Other peers whose namespaceSelector the new labels make match this namespace."""
        found = []
        for policy in ctx.inventory.policies:
            for direction in DIRECTIONS:
                for rule in policy.rules(direction):
                    for peer in rule.peers:
                        sel = peer.namespace_selector
                        if sel is None or sel == at.selector:
                            continue
                        if sel.matches(after.labels) and not sel.matches(before.labels):
                            found.append(f"namespaceSelector {sel} in {rule.label} of "
                                         f"NetworkPolicy {policy.key}")
        return found

    def _selector_fix(self, ctx: Context, at: PeerAt, namespace: Namespace) -> Fix | None:
        policy = at.policy
        if policy.source is None:
            return None
        spec = policy.source.obj.get("spec") or {}
        side = "from" if at.rule.direction == "Ingress" else "to"
        old = spec[at.rule.direction.lower()][at.rule.index][side][at.peer.index][
            "namespaceSelector"]
        new = {"matchLabels": {NAME_LABEL: namespace.name}}
        ops = [{"op": "test", "path": at.pointer, "value": old},
               {"op": "replace", "path": at.pointer, "value": new}]
        patch = Patch(policy.ref, ops, policy.source)
        opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
        return Fix(SAFE, f"select namespace {namespace.name} by its automatic label in "
                         f"{at.label} of NetworkPolicy {policy.key} "
                         f"({NAME_LABEL}: {namespace.name})", [patch], [], opens)
