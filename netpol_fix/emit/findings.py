"""`scan` output: text for people, JSON (the spec's shape), SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from netpol_fix import __version__
from netpol_fix.model.findings import SAFE, Finding, Fix
from netpol_fix.model.objects import InputError
from netpol_fix.model.text import inert
from netpol_fix.rules.base import Rule, rule_help

FORMATS = ("text", "json", "sarif")
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


SHOWN_FLOWS = 8
"""Flows the text output and the diff headers show per fix (JSON and SARIF: every listed)."""

SHOWN_RULES = 5


def opens_lines(fix: Fix, shown: int) -> list[str]:
    """What a fix opens, for people: what its new rules allow (symbolically), the exact
    number of workload pairs, and the first flows; the rest counted."""
    lines = [f"allows {rule}" for rule in fix.opens_rules[:SHOWN_RULES]]
    if len(fix.opens_rules) > SHOWN_RULES:
        lines.append(f"... and {len(fix.opens_rules) - SHOWN_RULES} more rule(s)")
    pairs = fix.pairs
    if fix.opens_rules or pairs > fix.listed_pairs:
        lines.append(f"opens {pairs} workload pair(s)" if pairs else "opens no new flow")
    lines += [f"opens {flow}" for flow in fix.opens[:shown]]
    if len(fix.opens) > shown:
        lines.append(f"... and {len(fix.opens) - shown} more flows"
                     + (f" of the first {fix.listed_pairs} pairs"
                        if pairs > fix.listed_pairs else ""))
    if pairs > fix.listed_pairs:
        lines.append(f"... and {pairs - fix.listed_pairs} more pair(s) (--all-opens lists "
                     "them)")
    return lines


def where(finding: Finding) -> str:
    loc = finding.source.location if finding.source else None
    return inert(f"{loc.file}:{loc.line}" if loc else f"<cluster> {finding.object}")


def _edits_files(fix: Fix) -> bool:
    """Whether `fix` (not only `apply --cluster`) can apply it: it edits or adds to a file."""
    return any(p.source is not None and p.source.location is not None for p in fix.patches) \
        or any(c.after is not None and c.after.location is not None for c in fix.creates)


def render_text(findings: Sequence[Finding], notes: Sequence[str] = ()) -> str:
    lines: list[str] = [f"note: {n}" for n in notes]
    safe = unsafe = live = 0
    for f in findings:
        lines.append(f"{where(f)}: {f.severity}[{f.rule}] {inert(str(f.object))}: "
                     f"{inert(f.message)}")
        if f.affected:
            shown = ", ".join(f.affected[:6])
            more = f" and {len(f.affected) - 6} more" if len(f.affected) > 6 else ""
            lines.append(f"  affected: {shown}{more}")
        for fix in ([f.fix] if f.fix else []) + f.alternatives:
            lines.append(f"  fix ({fix.applicability}): {inert(fix.description)}")
            lines += [f"    {inert(line)}" for line in opens_lines(fix, SHOWN_FLOWS)]
        if f.fix is not None and not _edits_files(f.fix):
            live += 1
        elif f.fix is not None:
            if f.fix.applicability == SAFE:
                safe += 1
            else:
                unsafe += 1
    if findings:
        summary = f"Found {len(findings)} finding(s)"
        extras = []
        if safe:
            extras.append(f"{safe} fixable with `netpol-fix fix`")
        if unsafe:
            extras.append(f"{unsafe} more with `--unsafe-fixes`")
        if live:
            extras.append(f"{live} for live objects, with `netpol-fix apply --cluster`")
        lines.append(summary + (f" ({', '.join(extras)})" if extras else "") + ".")
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"


def to_json(findings: Sequence[Finding], errors: Sequence[InputError],
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": 1,
        "findings": [f.to_json() for f in findings],
        "errors": [{"file": e.file, "document": e.document, "line": e.line,
                    "message": e.message, "severity": e.severity} for e in errors],
    }
    if extra:
        out.update(extra)
    return out


def render_json(findings: Sequence[Finding], errors: Sequence[InputError],
                extra: dict[str, Any] | None = None) -> str:
    return "".join(iter_json(findings, errors, extra))


def iter_json(findings: Sequence[Finding], errors: Sequence[InputError],
              extra: dict[str, Any] | None = None) -> Iterator[str]:
    """`json.dumps(to_json(...), indent=2)` and a newline, in pieces: one finding at a
    time, so a scan with a million flows in its fixes' `opens` never holds the whole
    document (measured at 5,000 workloads: 743 MB of JSON)."""
    head = to_json([], errors, extra)
    if not findings:
        yield json.dumps(head, indent=2) + "\n"
        return
    # the document without findings, split where the findings go
    marker = "\u0000findings\u0000"
    text = json.dumps({**head, "findings": marker}, indent=2)
    before, after = text.split(json.dumps(marker), 1)
    yield before + "[\n"
    for i, finding in enumerate(findings):
        item = json.dumps(finding.to_json(), indent=2).replace("\n", "\n    ")
        yield f"    {item}{',' if i < len(findings) - 1 else ''}\n"
    yield "  ]" + after + "\n"


def _read_text(file: str) -> str:
    with open(file, encoding="utf-8", newline="") as handle:
        return handle.read()


def render_sarif(findings: Sequence[Finding], rules: Sequence[Rule],
                 errors: Sequence[InputError],
                 read: Callable[[str], str] | None = None) -> str:
    """SARIF 2.1.0: the rules with their help, each finding with its location and, when it
    has one that edits files, its fix as artifact changes (`read` gives a file's text;
    default: from disk)."""
    # the fix edits need the YAML editor: loaded only when SARIF is asked for
    from netpol_fix.emit.sarif_fixes import sarif_fix

    rule_ids = [r.id for r in rules]
    results = []
    read = read or _read_text
    for f in findings:
        loc = f.source.location if f.source else None
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_ids.index(f.rule) if f.rule in rule_ids else -1,
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.object}: {f.message}"},
            "properties": {"affected": f.affected,
                           "fixApplicability": f.fix.applicability if f.fix else "none"},
        }
        if f.fix is not None:
            result["properties"]["fixOpens"] = [flow.to_json() for flow in f.fix.opens]
            result["properties"]["fixOpensSummary"] = f.fix.opens_summary()
        if loc is not None:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": loc.file},
                "region": {"startLine": loc.line}}}]
        fix = sarif_fix(f, read)
        if fix is not None:
            result["fixes"] = [fix]
        results.append(result)
    notifications = [{
        "level": "error" if e.severity == "error" else "warning",
        "message": {"text": e.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": e.file},
                                            **({"region": {"startLine": e.line}}
                                               if e.line else {})}}],
    } for e in errors]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "netpol-fix",
                "version": __version__,
                "informationUri": "https://github.com/netpol-fix/netpol-fix",
                "rules": [{
                    "id": r.id,
                    "shortDescription": {"text": r.summary},
                    "fullDescription": {"text": r.doc.why},
                    "help": {"text": rule_help(r)},
                    "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                    "properties": {"fixApplicability": r.applicability},
                } for r in rules],
            }},
            "results": results,
            "invocations": [{"executionSuccessful": not any(e.severity == "error"
                                                            for e in errors),
                             "toolExecutionNotifications": notifications}],
        }],
    }
    return json.dumps(sarif, indent=2) + "\n"
