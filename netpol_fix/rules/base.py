"""What a rule is: its id, severity, the applicability of its fix and its documentation.

A rule detects and proposes; what it finds and proposes (Finding, Fix) is plain data in
netpol_fix.model.findings, so that fixes/ and emit/ never need the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from netpol_fix.model.findings import Finding


@dataclass(frozen=True)
class RuleDoc:
    """`netpol-fix rule ID` and the SARIF rule help: why, example, fix, when unsafe."""

    why: str
    example: str
    fix: str
    unsafe: str


class Rule:
    """Base of every rule. Subclasses set the class attributes and implement `check`."""

    id: ClassVar[str]
    severity: ClassVar[str]
    applicability: ClassVar[str]
    summary: ClassVar[str]
    doc: ClassVar[RuleDoc]
    about_enforcement: ClassVar[bool] = True
    """True for rules about what policies deny: under a CNI that enforces nothing (Flannel)
    their findings would be false, so they do not run there (engine/cni.py)."""

    def check(self, ctx: Any) -> Iterable[Finding]:
        raise NotImplementedError


def rule_help(rule: Rule) -> str:
    """The rule documentation: `netpol-fix rule ID` prints it; SARIF carries it as help."""
    d = rule.doc
    return (f"{rule.id} ({rule.severity}, fix: {rule.applicability})\n\n{rule.summary}.\n\n"
            f"Why it matters\n{d.why}\n\nExample\n{d.example}\n\nFix\n{d.fix}\n\n"
            f"When the fix is unsafe\n{d.unsafe}\n")
