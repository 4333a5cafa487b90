"""cni-no-enforcement: the cluster's CNI does not enforce NetworkPolicy at all.

Flannel (without Calico, as in canal) accepts NetworkPolicy objects and ignores them: every
policy in the sources is decoration. Nothing is dropped, which is itself the surprise when
a team believes its default-deny holds. Reported once per run, not once per policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.engine.network import iter_bits
from netpol_fix.model.findings import ERROR, NONE, Finding
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed

NON_ENFORCING_CNIS = ("flannel",)


class CniNoEnforcement(Rule):
    id = "cni-no-enforcement"
    about_enforcement = False
    severity = ERROR
    applicability = NONE
    summary = "The CNI (Flannel) does not enforce NetworkPolicy"
    doc = RuleDoc(
        why=(
            "NetworkPolicy is enforced by the network plugin, not by the API server, which "
            "stores any policy without complaint. Flannel implements no policy at all, so "
            "with --cni flannel (or a cluster detected as Flannel) every policy in the "
            "sources is ignored: default-deny policies deny nothing and the isolation the "
            "manifests describe does not exist. Nothing is reported when the CNI is unknown."),
        example="netpol-fix scan --cni flannel manifests/  # any NetworkPolicy in manifests/",
        fix=(
            "None in the manifests. Run a CNI that enforces policy: Calico alongside Flannel "
            "(canal), Cilium, or your platform's policy engine; or drop the policies if "
            "isolation is not required, so that nobody relies on them."),
        unsafe="There is no automatic fix.",
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        if ctx.settings.cni not in NON_ENFORCING_CNIS:
            return []
        policies = [p for p in ctx.inventory.policies if not suppressed(self.id, p.source)]
        if not policies:
            return []
        net = ctx.network
        selected = 0
        for policy in policies:
            selected |= net.selected(policy)
        affected = [endpoint_ref(net.endpoints[i]) for i in iter_bits(selected)]
        first = policies[0]
        message = (f"the CNI is {ctx.settings.cni}, which does not enforce NetworkPolicy: "
                   f"none of the {len(policies)} NetworkPolicy object(s) in the sources "
                   f"(first: {first.key}) has any effect. Run a CNI that enforces policy "
                   "(Calico beside Flannel as canal, Cilium, or the platform's policy "
                   "engine), or drop the policies so that nobody relies on them")
        return [Finding(self.id, self.severity, first.ref, first.source, message, affected)]
