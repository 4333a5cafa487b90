"""aws-vpc-cni-port-limit: more than 24 port entries in one rule, under AWS VPC CNI.

The AWS network policy agent stores, per peer address of a pod, at most 24
{protocol, start port, end port} entries in an eBPF map value. It stops at 24 and only logs
it, so the remaining ports are silently denied. A range (`port` + `endPort`) takes one
entry, so merging consecutive ports into ranges keeps every port and frees entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from netpol_fix.engine.network import iter_bits
from netpol_fix.fixes.effect import flows_between, flows_opened, patched_policies, unique_flows
from netpol_fix.model.connset import ALL_PORTS, MAX_PORT, iter_ranges, port_range_bits
from netpol_fix.model.findings import ERROR, SAFE, UNSAFE, Finding, Fix, Flow, Patch
from netpol_fix.model.objects import endpoint_ref
from netpol_fix.model.policy import NetworkPolicy, PortSpec
from netpol_fix.model.policy import Rule as PolicyRule
from netpol_fix.rules.base import Rule, RuleDoc
from netpol_fix.rules.context import Context, suppressed

LIMIT = 24


def unique_entries(ports: Iterable[PortSpec]) -> dict[str, set[tuple[int | str | None, int | None]]]:
    """Unique (port, endPort) entries per protocol, as the agent counts them."""
    entries: dict[str, set[tuple[int | str | None, int | None]]] = {}
    for spec in ports:
        end = spec.end_port if spec.end_port and spec.end_port != spec.port else None
        entries.setdefault(spec.protocol, set()).add((spec.port, end))
    return entries


def close_smallest_gaps(runs: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Merge neighbouring runs, smallest gap first (ties: lowest port), until `limit` remain.

    Each merge adds exactly the ports of one gap, and gaps are independent, so closing the
    smallest ones adds the fewest ports possible.
    """
    if len(runs) <= limit:
        return runs
    gaps = sorted(range(len(runs) - 1), key=lambda k: (runs[k + 1][0] - runs[k][1], k))
    closed = set(gaps[:len(runs) - limit])
    merged: list[tuple[int, int]] = []
    for k, run in enumerate(runs):
        if k > 0 and k - 1 in closed:
            merged[-1] = (merged[-1][0], run[1])
        else:
            merged.append(run)
    return merged


def port_entry(protocol: str, first: int, last: int) -> dict[str, Any]:
    if first == 1 and last == MAX_PORT:
        return {"protocol": protocol}
    if first == last:
        return {"port": first, "protocol": protocol}
    return {"port": first, "endPort": last, "protocol": protocol}


@dataclass
class Consolidation:
    """The rewritten ports list of one rule and what it took to write it."""

    ports: list[dict[str, Any]]
    widened: bool
    """True when gaps were closed (ports added)."""
    kept_named: list[str]
    """Named ports left as they are: the selected pods disagree on their number."""
    counts: dict[str, int]
    """Entries per protocol after the rewrite."""


class AwsVpcCniPortLimit(Rule):
    id = "aws-vpc-cni-port-limit"
    severity = ERROR
    applicability = SAFE
    summary = ("More than 24 unique ports for one protocol in one rule under AWS VPC CNI: "
               "the extra ports are silently denied")
    doc = RuleDoc(
        why=(
            "The AWS VPC CNI network policy agent keeps, for each peer address of a pod, at "
            "most 24 {protocol, port range} entries. When a rule lists more, the agent logs "
            "\"No.of unique port/protocol combinations supported for a single endpoint "
            "exceeded the supported maximum of 24\" and drops the rest: the policy looks "
            "right and the API server accepts it, but connections to the ports past the 24th "
            "time out. A `port` + `endPort` range takes a single entry."),
        example=(
            "kind: NetworkPolicy\nspec:\n  podSelector: {matchLabels: {app: game}}\n"
            "  ingress:\n  - ports:\n    - {port: 7000}\n    - {port: 7001}\n"
            "    # ... 7002 to 7029, one entry each: 30 entries, 6 silently dropped"),
        fix=(
            "Replace the rule's `ports` with the same ports merged into ranges: consecutive "
            "and overlapping ports of each protocol become one `port`/`endPort` entry, "
            "duplicates go, named ports are resolved to their number when every selected "
            "pod agrees on it. The list is sorted by protocol, then port. This adds no port. "
            "When that still leaves more than 24 entries, the unsafe fix also closes the "
            "smallest gaps between ranges until 24 remain, and lists each port it adds."),
        unsafe=(
            "The exact merge is safe: it admits exactly the ports the rule admitted. Closing "
            "gaps admits ports nobody asked for (listed in the fix's `opens`), so it is "
            "unsafe. Rules of several policies that select the same pod and peer share the "
            "same 24 entries in the agent; this rule counts each rule on its own."),
    )

    def check(self, ctx: Context) -> Iterable[Finding]:
        if ctx.settings.cni != "aws-vpc-cni":
            return []
        findings = []
        for policy in ctx.inventory.policies:
            if suppressed(self.id, policy.source):
                continue
            for direction in ("Ingress", "Egress"):
                for rule in policy.rules(direction):
                    counts = {p: len(e) for p, e in unique_entries(rule.ports).items()}
                    over = {p: n for p, n in counts.items() if n > LIMIT}
                    if not over and sum(counts.values()) > LIMIT:
                        over = counts  # the agent's 24 entries per peer hold all protocols
                    if over:
                        findings.append(self._finding(ctx, policy, rule, over))
        return findings

    # ----- named ports -----------------------------------------------------------------
    def _named_port_numbers(self, ctx: Context, policy: NetworkPolicy,
                            rule: PolicyRule) -> dict[tuple[str, str], int]:
        """Named ports whose number every destination pod agrees on (ingress: the pods the
        policy selects; egress: the pods the rule's peers match), from real workloads."""
        net = ctx.network
        bits = net.selected(policy) if rule.direction == "Ingress" \
            else net.rule_peer_bits(policy, rule)
        pods = [net.endpoints[i] for i in iter_bits(bits) if not net.endpoints[i].representative]
        resolved: dict[tuple[str, str], int] = {}
        if not pods:
            return resolved
        for spec in rule.ports:
            if not isinstance(spec.port, str):
                continue
            numbers = set()
            for pod in pods:
                found = {cp.port for cp in pod.ports
                         if cp.name == spec.port and cp.protocol == spec.protocol}
                numbers.add(found.pop() if len(found) == 1 else None)
            if len(numbers) == 1 and None not in numbers:
                resolved[(spec.protocol, spec.port)] = numbers.pop()  # type: ignore[assignment]
        return resolved

    # ----- consolidation ---------------------------------------------------------------
    def consolidate(self, ctx: Context, policy: NetworkPolicy, rule: PolicyRule,
                    widen: bool) -> Consolidation:
        named_numbers = self._named_port_numbers(ctx, policy, rule)
        bits: dict[str, int] = {}
        named: dict[str, set[str]] = {}
        for spec in rule.ports:
            if isinstance(spec.port, str):
                number = named_numbers.get((spec.protocol, spec.port))
                if number is None:
                    named.setdefault(spec.protocol, set()).add(spec.port)
                    continue
                spec_bits = port_range_bits(number, number)
            elif spec.port is None:
                spec_bits = ALL_PORTS
            else:
                spec_bits = port_range_bits(spec.port, spec.end_port or spec.port)
            bits[spec.protocol] = bits.get(spec.protocol, 0) | spec_bits
        ports: list[dict[str, Any]] = []
        widened = False
        counts: dict[str, int] = {}
        for protocol in sorted(set(bits) | set(named)):
            runs = list(iter_ranges(bits.get(protocol, 0)))
            names = sorted(named.get(protocol, ()))
            if widen:
                merged = close_smallest_gaps(runs, max(LIMIT - len(names), 1))
                widened = widened or merged != runs
                runs = merged
            ports.extend(port_entry(protocol, a, b) for a, b in runs)
            ports.extend({"port": name, "protocol": protocol} for name in names)
            counts[protocol] = len(runs) + len(names)
        kept = [f"{p} {n}" for p in sorted(named) for n in sorted(named[p])]
        return Consolidation(ports, widened, kept, counts)

    def _operations(self, policy: NetworkPolicy, rule: PolicyRule,
                    ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert policy.source is not None
        field = rule.direction.lower()
        path = f"/spec/{field}/{rule.index}/ports"
        old = policy.source.obj["spec"][field][rule.index]["ports"]
        return [{"op": "test", "path": path, "value": old},
                {"op": "replace", "path": path, "value": ports}]

    def _fix(self, ctx: Context, policy: NetworkPolicy, rule: PolicyRule) -> Fix | None:
        if policy.source is None:
            return None
        plan = self.consolidate(ctx, policy, rule, widen=False)
        applicability = SAFE
        if sum(plan.counts.values()) > LIMIT:
            plan = self.consolidate(ctx, policy, rule, widen=True)
            applicability = UNSAFE
            if sum(plan.counts.values()) > LIMIT:
                return None  # only unresolvable named ports remain: nothing to merge
        patch = Patch(policy.ref, self._operations(policy, rule, plan.ports), policy.source)
        new_policies = patched_policies(ctx.inventory, [patch])
        opens = flows_opened(ctx.network, new_policies)
        opens = unique_flows(opens + self._peer_opens(ctx, policy, rule, new_policies))
        counts = ", ".join(f"{p}: {n}" for p, n in sorted(plan.counts.items()))
        description = (f"merge the ports of {policy.key} {rule.label} into ranges "
                       f"({counts} entries)")
        if plan.widened:
            description += f", closing the smallest gaps: opens {len(opens)} flow(s)"
        if plan.kept_named:
            description += ("; named ports left as they are (the selected pods do not all "
                            f"agree on their number): {', '.join(plan.kept_named)}")
        return Fix(applicability, description, [patch], [], opens)

    def _peer_opens(self, ctx: Context, policy: NetworkPolicy, rule: PolicyRule,
                    new_policies: list[NetworkPolicy]) -> list[Flow]:
        """Ports the rewrite adds towards peers that the pod pairs do not show: ipBlocks,
        every peer for a rule without `from`/`to` (`any`), and selector peers that match
        no pod of the sources (named by their selectors)."""
        new_policy = next(p for p in new_policies if p.key == policy.key)
        new_rule = new_policy.rules(rule.direction)[rule.index]
        if not new_rule.numeric_conns() - rule.numeric_conns():
            return []
        net = ctx.network
        peers = ["any"] if rule.all_peers else [
            str(p.ip_block) if p.ip_block is not None else str(p) for p in rule.peers
            if p.ip_block is not None or not net.peer_bits(policy, p)]
        flows = []
        for i in ctx.selected_endpoints(policy):
            pod = endpoint_ref(net.endpoints[i])
            for peer in peers:
                src, dst = (peer, pod) if rule.direction == "Ingress" else (pod, peer)
                flows.extend(flows_between(rule.numeric_conns(), new_rule.numeric_conns(),
                                           src, dst))
        return flows

    def _finding(self, ctx: Context, policy: NetworkPolicy, rule: PolicyRule,
                 over: dict[str, int]) -> Finding:
        counts = ", ".join(f"{n} {p}" for p, n in sorted(over.items()))
        affected = [endpoint_ref(ctx.network.endpoints[i]) for i in ctx.selected_endpoints(policy)]
        message = (f"NetworkPolicy {policy.key} {rule.label} lists {counts} unique port "
                   f"entries; the AWS VPC CNI network policy agent writes the first {LIMIT} "
                   "entries per peer and silently denies the rest (`explain --cni "
                   "aws-vpc-cni` shows which ports)")
        fix = self._fix(ctx, policy, rule)
        if fix is None:
            message += (" (no fix: the entries left are named ports the pods do not agree on, "
                        "or ranges of several protocols that do not fit once merged)")
        return Finding(self.id, self.severity, policy.ref, policy.source, message, affected, fix)

