"""policy-types-missing: `policyTypes` omitted, so the API server picks the directions.

The default is Ingress always, plus Egress when `spec.egress` holds at least one rule. An
author who writes only egress rules (to restrict where pods may connect) thus also gets
ingress isolation with no ingress rule: every connection to those pods is dropped. Writing
the defaulted list down changes nothing and makes that visible in review; when the policy
is egress-only the finding says so and offers `[Egress]` as the alternative.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netpol_fix.fixes.effect import flows_opened, patched_policies
from netpol_fix.model.findings import ERROR, SAFE, UNSAFE, WARNING, Finding, Fix, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed


def guard_operations(policy: NetworkPolicy) -> list[dict[str, Any]]:
    """`test`s of what the API defaulting reads: the selected pods and the rule lists.

    An absent field cannot be tested in RFC 6902, so only present fields are pinned.
    """
    assert policy.source is not None
    spec = policy.source.obj.get("spec") or {}
    ops: list[dict[str, Any]] = []
    for field in ("podSelector", "ingress", "egress", "policyTypes"):
        if field in spec:
            ops.append({"op": "test", "path": f"/spec/{field}", "value": spec[field]})
    return ops


def set_policy_types(policy: NetworkPolicy, types: list[str]) -> Patch:
    """Write `types` as spec.policyTypes (an `add` replaces a null or empty list)."""
    assert policy.source is not None
    ops = guard_operations(policy)
    ops.append({"op": "add", "path": "/spec/policyTypes", "value": types})
    return Patch(policy.ref, ops, policy.source)


def egress_only(policy: NetworkPolicy) -> bool:
    """Egress rules and no ingress rule: the author restricted egress and nothing else."""
    return bool(policy.egress) and not policy.ingress


class PolicyTypesMissing(Rule):
    id = "policy-types-missing"
    severity = WARNING
    applicability = SAFE
    summary = "policyTypes omitted: the API defaults it, and an egress-only policy isolates ingress"
    doc = RuleDoc(
        why=(
            "Without policyTypes the API server isolates Ingress always, and Egress only when "
            "spec.egress holds at least one rule. A policy written to restrict egress (egress "
            "rules, no ingress rules) therefore also denies every incoming connection to the "
            "pods it selects, which is the classic silent denial: nothing in the manifest "
            "mentions ingress. Even when the default is what was meant, a reader cannot tell "
            "which directions a policy isolates without knowing the defaulting rule."),
        example=(
            "kind: NetworkPolicy\nmetadata: {name: web-egress, namespace: shop}\n"
            "spec:\n  podSelector: {matchLabels: {app: web}}\n"
            "  egress:\n  - to: [{podSelector: {matchLabels: {app: db}}}]\n"
            "# isolates ingress too: nothing may connect to web"),
        fix=(
            "Write exactly the list the API server defaults to: [Ingress], or [Ingress, "
            "Egress] when spec.egress holds a rule. Behaviour does not change; the patch tests "
            "podSelector and the ingress/egress lists it was computed from. For an egress-only "
            "policy the fix writes [Egress] instead, what its rules say was meant: it re-opens "
            "ingress to the selected pods (the fix lists the flows), so it is unsafe and "
            "applied only with --unsafe-fixes; the finding stays until then. Writing the "
            "default [Ingress, Egress] stays an alternative (JSON `alternatives`), for a "
            "policy that means to deny ingress."),
        unsafe=(
            "Writing the default is safe: it opens and closes nothing. [Egress], the fix for an "
            "egress-only policy, is unsafe: it assumes the author did not mean to deny "
            "ingress, and re-opens every ingress connection to the selected pods that no other "
            "policy restricts."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        findings = []
        for policy in ctx.inventory.policies:
            if policy.policy_types_explicit or suppressed(self.id, policy.source):
                continue
            findings.append(self._finding(ctx, policy))
        return findings

    def _finding(self, ctx: Context, policy: NetworkPolicy) -> Finding:
        affected = [endpoint_ref(ctx.network.endpoints[i])
                    for i in ctx.selected_endpoints(policy)]
        defaulted = list(policy.policy_types)
        listed = ", ".join(defaulted)
        severity = WARNING
        spec = (policy.source.obj.get("spec") or {}) if policy.source is not None else {}
        what = "has an empty policyTypes list" if spec.get("policyTypes") == [] \
            else "omits policyTypes"
        message = (f"NetworkPolicy {policy.key} {what}; the API server defaults it "
                   f"to [{listed}]")
        if egress_only(policy):
            severity = ERROR
            message += (f": NetworkPolicy {policy.key} therefore also denies all ingress to the "
                        "pods it selects; if you meant egress only, set policyTypes: [Egress]")
        fix = None
        alternatives: list[Fix] = []
        if policy.source is not None:
            patch = set_policy_types(policy, defaulted)
            opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [patch]))
            keep = Fix(SAFE, f"write policyTypes: [{listed}] (what the API server defaults to; "
                             "behaviour unchanged)", [patch], [], opens)
            fix = keep
            if egress_only(policy):
                # the intent of an egress-only policy is egress: [Egress] restores it; writing
                # the default would make the ingress outage permanent and hide this finding
                intended = set_policy_types(policy, ["Egress"])
                opens = flows_opened(ctx.network, patched_policies(ctx.inventory, [intended]))
                fix = Fix(UNSAFE, f"write policyTypes: [Egress] (egress only, as the rules "
                                  f"say: re-opens ingress to the selected pods, {len(opens)} "
                                  "flow(s))", [intended], [], opens)
                alternatives.append(keep)
        return Finding(self.id, severity, policy.ref, policy.source, message, affected, fix,
                       alternatives)
