"""The rule registry keyed by rule id, rule selection, and running the rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from netpol_fix.fixes.effect import bounded_opens
from netpol_fix.inventory.collector import collector_paused
from netpol_fix.model.findings import LISTED_PAIRS, Finding
from netpol_fix.rules.aws_vpc_cni_port_limit import AwsVpcCniPortLimit
from netpol_fix.rules.base import Rule
from netpol_fix.rules.cilium_cidr_selects_pods import CiliumCidrSelectsPods
from netpol_fix.rules.cilium_icmp_denied import CiliumIcmpDenied
from netpol_fix.rules.cni_no_enforcement import CniNoEnforcement
from netpol_fix.rules.context import Context
from netpol_fix.rules.host_network_pod import HostNetworkPod
from netpol_fix.rules.missing_dns_egress import MissingDnsEgress
from netpol_fix.rules.namespace_selector_unmatched import NamespaceSelectorUnmatched
from netpol_fix.rules.one_sided_allow import OneSidedAllow
from netpol_fix.rules.peer_selects_host_network import PeerSelectsHostNetwork
from netpol_fix.rules.pod_selector_own_namespace import PodSelectorOwnNamespace
from netpol_fix.rules.policy_selects_nothing import PolicySelectsNothing
from netpol_fix.rules.policy_types_missing import PolicyTypesMissing
from netpol_fix.rules.rules_ignored import EgressRulesIgnored, IngressRulesIgnored
from netpol_fix.rules.service_endpoints import ServiceSelectsNothing, ServiceTargetPortUnexposed
from netpol_fix.rules.tier_overrides import TierOverridesAllow

RULES: dict[str, Rule] = {rule.id: rule for rule in (
    MissingDnsEgress(),
    NamespaceSelectorUnmatched(),
    PodSelectorOwnNamespace(),
    PolicyTypesMissing(),
    EgressRulesIgnored(),
    IngressRulesIgnored(),
    AwsVpcCniPortLimit(),
    HostNetworkPod(),
    CiliumIcmpDenied(),
    CniNoEnforcement(),
    CiliumCidrSelectsPods(),
    OneSidedAllow(),
    PolicySelectsNothing(),
    PeerSelectsHostNetwork(),
    ServiceSelectsNothing(),
    ServiceTargetPortUnexposed(),
    TierOverridesAllow(),
)}


class UnknownRule(ValueError):
    pass


def select_rules(select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Rule]:
    """Rules to run: all, or those `select`ed, minus those `ignore`d; ids are checked and,
    like kubectl's kinds, case-insensitive."""
    select = [r.lower() for r in select]
    ignore = [r.lower() for r in ignore]
    for rule_id in (*select, *ignore):
        if rule_id not in RULES:
            raise UnknownRule(f"unknown rule id {rule_id!r} (see `netpol-fix rules`)")
    chosen = [RULES[r] for r in select] if select else list(RULES.values())
    return [r for r in chosen if r.id not in ignore]


def run_rules(ctx: Context, rules: Iterable[Rule]) -> list[Finding]:
    """Every rule's findings, sorted by file and line, with the cyclic collector paused
    (inventory/collector.py: the rules allocate millions of short-lived objects that
    reference counting frees)."""
    with collector_paused():
        return _run_rules(ctx, rules)


def _run_rules(ctx: Context, rules: Iterable[Rule]) -> list[Finding]:
    findings: list[Finding] = []
    enforced = ctx.cni.enforces
    rules = [rule for rule in rules if enforced or not rule.about_enforcement]
    ctx.running = frozenset(rule.id for rule in rules)
    limit = None if ctx.settings.all_opens else LISTED_PAIRS
    for rule in rules:
        for finding in rule.check(ctx):
            for fix in ([finding.fix] if finding.fix else []) + finding.alternatives:
                bounded_opens(fix, limit)
            findings.append(finding)
    findings.sort(key=lambda f: (
        f.source.location.file if f.source and f.source.location else "",
        f.source.location.line if f.source and f.source.location else 0,
        f.rule, f.object.namespace or "", f.object.name))
    return findings
