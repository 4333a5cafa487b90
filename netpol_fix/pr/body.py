"""What a fix pull request says: title, body, commit message, branch name, fingerprint.

A reviewer should be able to merge from the body alone: which rule found what where, which
connections each fix opens (nothing else changes; also drawn as a Mermaid graph, which
GitHub renders), the diff, and commands that show the restored flows are allowed afterwards. Everything here is a pure function of the applied
fixes and the diff, so a rerun with the same fixes produces the same text and fingerprint
and the open pull request is left alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from netpol_fix.emit.findings import where
from netpol_fix.emit.mermaid import fenced, flows_graph
from netpol_fix.model.findings import Finding, Fix, Flow
from netpol_fix.model.text import inert

LABELS = ("netpol-fix", "network-policy")
FINGERPRINT_PREFIX = "<!-- netpol-fix:fingerprint="
# GitHub refuses bodies over 65,536 characters: the diff gets what the rest leaves of this
# (the rest: findings, flows and their picture, verify commands, the fingerprint comment).
MAX_BODY = 65_000

Applied = Sequence[tuple[Finding, Fix]]

_TITLE_VERBS = {
    "missing-dns-egress": "add DNS egress to {obj}",
    "namespace-selector-unmatched": "fix the unmatched namespaceSelector of {obj}",
    "pod-selector-own-namespace": "add the missing namespaceSelector to {obj}",
    "policy-types-missing": "state the policyTypes of {obj}",
    "egress-rules-ignored": "enable the ignored egress rules of {obj}",
    "ingress-rules-ignored": "enable the ignored ingress rules of {obj}",
    "aws-vpc-cni-port-limit": "consolidate the ports of {obj} for AWS VPC CNI",
    "cilium-icmp-denied": "allow ICMP echo for {obj}",
    "one-sided-allow": "add the missing rule to {obj}",
}


def object_name(finding: Finding) -> str:
    ref = finding.object
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name


def fixed_objects(applied: Applied) -> list[str]:
    """The sorted set `rule kind ns/name` of what the fixes change: the branch identity."""
    return sorted({f"{f.rule} {f.object.kind} {object_name(f)}" for f, _fx in applied})


def short_hash(items: Sequence[str], length: int = 10) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:length]


def branch_name(base: str, applied: Applied) -> str:
    """`netpol-fix/<base>/<hash of the fixed objects>`: the same fixes find the same branch."""
    return f"netpol-fix/{base}/{short_hash(fixed_objects(applied))}"


def title(applied: Applied) -> str:
    if len(applied) == 1:
        finding = applied[0][0]
        verb = _TITLE_VERBS.get(finding.rule, f"fix {finding.rule} in {{obj}}")
        return "netpol-fix: " + verb.format(obj=object_name(finding))
    namespaces = sorted({f.object.namespace or "cluster scope" for f, _fx in applied})
    scope = ", ".join(namespaces) if len(namespaces) <= 3 else f"{len(namespaces)} namespaces"
    return f"netpol-fix: {len(applied)} fixes in {scope}"


def commit_message(applied: Applied) -> str:
    """Subject = the PR title; one line per fix: rule id and object."""
    lines = [title(applied), ""]
    lines += [f"- {f.rule}: {f.object.kind} {object_name(f)} ({fx.applicability})"
              for f, fx in applied]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A Markdown table cell: `|` escaped, control characters (newlines) made inert."""
    return inert(text.replace("\n", " ")).replace("|", "\\|")


def _explain_endpoint(ref: str) -> str | None:
    """explain's NS/NAME for a flow end `ns/Kind/name`, or the address itself; None for a
    representative pod (`ns/labels`) that explain cannot name."""
    parts = ref.split("/")
    if len(parts) == 3 and parts[1][:1].isupper():
        return f"{parts[0]}/{parts[2]}[{parts[1]}]"
    try:
        ipaddress.ip_network(ref, strict=False)
    except ValueError:
        return None
    return ref


def explain_command(flow: Flow, sources: Sequence[str]) -> str | None:
    """`netpol-fix explain` for one opened flow, when both ends can be named."""
    source, target = _explain_endpoint(flow.source), _explain_endpoint(flow.destination)
    if source is None or target is None:
        return None
    words = ["netpol-fix", "explain", *sources, "--from", source, "--to", target]
    if flow.protocol is not None:
        words += ["--protocol", flow.protocol]
        if flow.port is not None and flow.protocol != "ICMP":
            words += ["--port", str(flow.port)]
    return shlex.join(words)


@dataclass(frozen=True)
class PullRequestText:
    title: str
    body: str
    fingerprint: str


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return fence


def render(applied: Applied, diff: str, base: str, sources: Sequence[str],
           remaining: int = 0) -> PullRequestText:
    """Title, body and fingerprint of the pull request for these fixes."""
    head = title(applied)
    out = [(f"netpol-fix found traffic that the NetworkPolicies of `{base}` silently drop, "
           f"and fixes it here ({len(applied)} fix(es))."), "", "### Findings", "",
           "| rule | severity | object | file:line | message |", "|---|---|---|---|---|"]
    for finding, _fx in applied:
        out.append(f"| `{finding.rule}` | {finding.severity} | {finding.object.kind} "
                   f"{object_name(finding)} | `{_cell(where(finding))}` | "
                   f"{_cell(finding.message)} |")
    out += ["", "### What each fix opens", ""]
    for finding, fx in applied:
        out.append(f"- **{finding.rule}** on {finding.object.kind} {object_name(finding)} "
                   f"({fx.applicability}): {fx.description}")
        out += [f"  - allows {rule}" for rule in fx.opens_rules]
        out += [f"  - `{flow}`" for flow in fx.opens]
        if fx.pairs > fx.listed_pairs:
            out.append(f"  - ... and {fx.pairs - fx.listed_pairs} more workload pair(s) "
                       f"({fx.pairs} in all; `netpol-fix scan --all-opens` lists them)")
        if not fx.opens:
            out.append("  - no new connection (the fix only states what the API already "
                       "does)")
    flows = [flow for _f, fx in applied for flow in fx.opens]
    picture = fenced(flows_graph(flows)) if flows else ""
    if picture:
        out += ["", picture]
    out += ["", ("Nothing else is opened: each fix's flows are computed by comparing the "
            "connectivity before and after the patch."), ""]
    if remaining:
        out += [(f"{remaining} other finding(s) have no fix, an unsafe fix not applied, or "
                "could not be fixed; see `netpol-fix scan`."), ""]
    rules = ",".join(sorted({f.rule for f, _fx in applied}))
    checks = [shlex.join(["netpol-fix", "scan", *sources, "--select", rules])]
    explains = [explain_command(flow, sources) for _f, fx in applied for flow in fx.opens]
    checks += list(dict.fromkeys(c for c in explains if c))
    verify = ["### How to verify", "", ("On this branch, `scan` no longer lists the findings "
              "above, and `explain` says each restored flow is allowed (exit code 0):"), "",
              "```sh", *checks, "```", ""]
    files = diff.count("diff --git ")
    frame = ["### Diff", "", f"<details><summary>{files} file(s) changed</summary>", "",
             "", "", "", "", "</details>", ""]
    rest = len("\n".join(out + frame + verify)) + 200  # + fences, the fingerprint comment
    budget = max(MAX_BODY - rest, 0)
    shown = diff if len(diff) < budget else (
        diff[:budget] + "\n... (diff truncated: see the commit)\n")
    fence = _fence(shown)
    out += ["### Diff", "", f"<details><summary>{files} file(s) changed</summary>", "",
            f"{fence}diff", shown.rstrip("\n"), fence, "", "</details>", ""]
    text = "\n".join(out + verify)
    fingerprint = short_hash([head, text], 16)
    return PullRequestText(head, f"{text}\n{FINGERPRINT_PREFIX}{fingerprint} -->\n",
                           fingerprint)


def fingerprint_of(body: str | None) -> str | None:
    """The fingerprint a pull request body carries, if netpol-fix wrote it."""
    if not body or FINGERPRINT_PREFIX not in body:
        return None
    return body.split(FINGERPRINT_PREFIX, 1)[1].split(" -->", 1)[0].strip()
