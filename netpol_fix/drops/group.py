"""Flows -> groups by (source, destination, protocol, port, direction, reason, what the
dataplane did), with counts and first/last seen. Memory grows with the number of groups,
never with the number of lines: each group keeps its first flow as a sample and counters.

Forwarded flows are only counted, except those that open a connection (a TCP SYN without
ACK, a UDP/SCTP/ICMP packet that is no reply, a Hubble policy-verdict event): the sources
are asked about those too, since one the sources deny is an enforcement gap. A packet of an
established connection says nothing about the policy: conntrack lets it through.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from netpol_fix.drops.formats import ObservedFlow
from netpol_fix.drops.resolve import Resolved, Resolver

DROPPED, FORWARDED = "dropped", "forwarded"
POLICY_VERDICT_EVENT = 5

GroupKey = tuple[str, str, str | None, int | None, str | None, str | None, str]


@dataclass
class Group:
    key: GroupKey
    source: Resolved
    destination: Resolved
    sample: ObservedFlow
    events: int = 0
    """Flow events other than policy verdicts (drops, traces; Calico's aggregated flows)."""
    verdict_events: int = 0
    """Hubble policy-verdict events (event type 5)."""
    first_seen: str | None = None
    last_seen: str | None = None
    _first_key: tuple[str, str] | None = None
    _last_key: tuple[str, str] | None = None

    @property
    def count(self) -> int:
        """Packets seen: with policy-verdict notifications on, Cilium reports a denied
        packet twice, as a policy-verdict event and as a drop event, so the count is the
        larger of the two kinds (either alone when only one is in the input)."""
        return max(self.events, self.verdict_events)

    @property
    def observed(self) -> str:
        return self.key[6]

    @property
    def protocol(self) -> str | None:
        return self.key[2]

    @property
    def port(self) -> int | None:
        return self.key[3]

    @property
    def direction(self) -> str | None:
        return self.key[4]

    @property
    def reason(self) -> str | None:
        return self.key[5]

    def see(self, flow: ObservedFlow) -> None:
        if flow.event_type == POLICY_VERDICT_EVENT:
            self.verdict_events += flow.count
        else:
            self.events += flow.count
        stamp = flow.time
        if stamp is None:
            return
        last = self.last_seen
        if last is not None and len(stamp) == len(last) and stamp[-1] == "Z" == last[-1] \
                and stamp >= last:
            # the common case: a later time in the same layout, compared as text
            if stamp > last:
                self._last_key, self.last_seen = None, stamp
            return
        order = time_key(stamp)
        if self._first_key is None or order < self._first_key:
            self._first_key, self.first_seen = order, stamp
        last_key = self._last_key if self._last_key is not None or last is None \
            else time_key(last)
        if last_key is None or order > last_key:
            self._last_key, self.last_seen = order, stamp
        else:
            self._last_key = last_key


def time_key(stamp: str) -> tuple[str, str]:
    """A sort key for RFC 3339 times: UTC `Z` times (what Hubble prints) compare by text
    with the fraction padded to nanoseconds, without parsing every line; others are
    converted to UTC first."""
    if stamp.endswith("Z") and len(stamp) >= 20 and stamp[10] == "T":
        whole, _, fraction = stamp[:-1].partition(".")
        return whole, fraction.ljust(9, "0")
    try:
        moment = datetime.datetime.fromisoformat(stamp).astimezone(datetime.UTC)
    except ValueError:
        return stamp, ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S"), f"{moment.microsecond:06d}000"


def opens_connection(flow: ObservedFlow) -> bool:
    """Whether a forwarded flow is a policy decision on a new connection (see module doc)."""
    if flow.event_type == POLICY_VERDICT_EVENT:
        return True
    if flow.is_reply is not False or flow.l7:
        return False
    if flow.protocol == "TCP":
        return flow.syn_only is True
    return flow.protocol is not None


@dataclass
class Grouper:
    resolver: Resolver
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    forwarded: int = 0
    """Forwarded (or redirected) flows seen, counted only."""
    ignored: int = 0
    """Other verdicts (ERROR, TRACED, TRANSLATED, unknown): counted only."""
    flows: int = 0

    def add(self, flow: ObservedFlow) -> Group | None:
        """Count one flow; the group when it is new (for `--follow`), else None."""
        self.flows += flow.count
        if flow.dropped:
            observed = DROPPED
        elif flow.verdict in ("FORWARDED", "REDIRECTED"):
            self.forwarded += flow.count
            if not opens_connection(flow):
                return None
            observed = FORWARDED
        else:
            self.ignored += flow.count
            return None
        src = self.resolver.resolve(flow.source)
        dst = self.resolver.resolve(flow.destination)
        port = flow.port if flow.protocol not in ("ICMPv4", "ICMPv6") else flow.icmp_type
        reason = flow.reason if observed == DROPPED else None
        key: GroupKey = (src.ref, dst.ref, flow.protocol, port, flow.direction, reason, observed)
        group = self.groups.get(key)
        new = group is None
        if group is None:
            group = self.groups[key] = Group(key, src, dst, flow)
        group.see(flow)
        return group if new else None

    def add_all(self, flows: Iterable[ObservedFlow]) -> Iterator[Group]:
        """add() every flow, yielding each new group."""
        for flow in flows:
            group = self.add(flow)
            if group is not None:
                yield group

    def ranked(self, observed: str = DROPPED) -> list[Group]:
        """Groups, most frequent first (then by first seen, then by key)."""
        chosen = [g for g in self.groups.values() if g.observed == observed]
        return sorted(chosen, key=lambda g: (-g.count, g._first_key or ("", ""),
                                             tuple(str(part) for part in g.key)))
