"""What a rule is, what it finds, and what its fix is: kept apart, as ruff does.

A rule detects; a Finding says what is wrong, where, and which workloads suffer; a Fix is
the canonical RFC 6902 JSON Patch operations per object (plus objects to create), marked
safe (restores intended traffic, opens nothing else), unsafe (changes behaviour beyond the
intended flow, or guesses intent: applied only with --unsafe-fixes) or absent. Every other
form of a fix (diff, file edit, cluster patch, pull request) is derived from the operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netpol_fix.model.objects import ObjectRef, SourceObject

SAFE, UNSAFE, NONE = "safe", "unsafe", "none"
ERROR, WARNING, INFO = "error", "warning", "info"


PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True, slots=True)
class Flow:
    """A connection a fix opens: `port` None = all ports, `end_port` for a range."""

    source: str
    destination: str
    protocol: str | None
    port: int | None = None
    end_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source, "to": self.destination,
                               "protocol": self.protocol, "port": self.port}
        if self.end_port is not None:
            out["endPort"] = self.end_port
        return out

    @property
    def connections(self) -> str:
        """What flows, without the endpoints: `all connections`, `TCP 80`, `UDP 1-52`."""
        if self.protocol is None:
            return "all connections"
        if self.port is None:
            # ICMP has no ports
            return f"{self.protocol} (all ports)" if self.protocol in PORT_PROTOCOLS \
                else self.protocol
        if self.end_port:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination} {self.connections}"


@dataclass
class Patch:
    """JSON Patch operations against one object as the API sees it."""

    object: ObjectRef
    operations: list[dict[str, Any]]
    source: SourceObject | None = None

    def to_json(self) -> dict[str, Any]:
        return {"object": self.object.as_dict(), "operations": self.operations}


@dataclass
class NewObject:
    """An object a fix creates, placed in the file right after `after`'s document."""

    obj: dict[str, Any]
    after: SourceObject | None = None

    @property
    def ref(self) -> ObjectRef:
        meta = self.obj.get("metadata", {})
        return ObjectRef(self.obj["apiVersion"], self.obj["kind"], meta.get("namespace"),
                         meta["name"])


LISTED_PAIRS = 20
"""Workload pairs whose flows a fix lists in `opens` (`--all-opens`: every pair); the rest
are counted."""


@dataclass
class Fix:
    applicability: str
    description: str
    patches: list[Patch] = field(default_factory=list)
    creates: list[NewObject] = field(default_factory=list)
    opens: list[Flow] = field(default_factory=list)
    """The flows the fix opens: all of them, or those of the first LISTED_PAIRS pairs
    (source, destination) in order when `opens_pairs` counts more."""
    opens_pairs: int | None = None
    """How many (source, destination) pairs the fix opens in all; None: the pairs of
    `opens` (the list is complete)."""
    opens_rules: list[str] = field(default_factory=list)
    """What the fix allows, said symbolically as its new rules say it (source selector
    and namespace, destination selector and namespace, ports)."""
    all_opens: Callable[[], list[Flow]] | None = field(default=None, repr=False,
                                                        compare=False)
    """Every flow, computed on demand, when `opens` lists only the first pairs."""

    @property
    def pairs(self) -> int:
        """How many workload pairs the fix opens (exact, from the engine)."""
        if self.opens_pairs is not None:
            return self.opens_pairs
        return len({(f.source, f.destination) for f in self.opens})

    @property
    def listed_pairs(self) -> int:
        return len({(f.source, f.destination) for f in self.opens})

    def complete_opens(self) -> list[Flow]:
        """Every flow the fix opens (computed when only the first pairs are listed)."""
        if self.all_opens is not None and self.pairs > self.listed_pairs:
            return self.all_opens()
        return self.opens

    def opens_summary(self) -> dict[str, Any]:
        """`opensSummary` in JSON and SARIF: the rules, the pairs, how many are listed."""
        return {"rules": self.opens_rules, "pairs": self.pairs,
                "listedPairs": self.listed_pairs}

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability,
            "description": self.description,
            "patches": [p.to_json() for p in self.patches],
            "creates": [c.obj for c in self.creates],
            "opens": [f.to_json() for f in self.opens],
            "opensSummary": self.opens_summary(),
        }


@dataclass
class Finding:
    rule: str
    severity: str
    object: ObjectRef
    source: SourceObject | None
    message: str
    affected: list[str] = field(default_factory=list)
    fix: Fix | None = None
    alternatives: list[Fix] = field(default_factory=list)
    """Other fixes offered (e.g. the unsafe one when the default fix is safe)."""

    def to_json(self) -> dict[str, Any]:
        loc = self.source.location if self.source else None
        return {
            "rule": self.rule,
            "severity": self.severity,
            "object": self.object.as_dict(),
            "location": None if loc is None else {
                "file": loc.file, "document": loc.document, "line": loc.line},
            "message": self.message,
            "affected": self.affected,
            "fix": None if self.fix is None else self.fix.to_json(),
            "alternatives": [a.to_json() for a in self.alternatives],
        }
