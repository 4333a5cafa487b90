"""Sets of connections: ports per protocol as big-integer bitsets.

A NetworkPolicy port rule speaks of TCP, UDP and SCTP ports; a rule without ports allows
every protocol, ICMP included. So a ConnSet is three port bitsets (bit p set = port p
allowed, ports 1..65535) and one flag for "other protocols" (ICMP and the rest). Union,
intersection and difference are a handful of integer operations, which is what lets the
connectivity engine stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORT = 65535
ALL_PORTS = ((1 << (MAX_PORT + 1)) - 1) & ~1  # bits 1..65535


def port_range_bits(first: int, last: int) -> int:
    """Bitset of the ports first..last inclusive."""
    if last < first:
        return 0
    return ((1 << (last - first + 1)) - 1) << first


def iter_ranges(bits: int) -> Iterator[tuple[int, int]]:
    """The maximal runs of set bits, as (first, last) inclusive, ascending."""
    position = 0
    while bits:
        low = (bits & -bits).bit_length() - 1  # lowest set bit
        bits >>= low
        position += low
        run = (~bits & (bits + 1)).bit_length() - 1  # length of the run of ones
        yield position, position + run - 1
        bits >>= run
        position += run


@dataclass(frozen=True)
class ConnSet:
    tcp: int = 0
    udp: int = 0
    sctp: int = 0
    other: bool = False
    """Protocols other than TCP/UDP/SCTP (ICMP...): allowed only by rules without ports."""

    @classmethod
    def all(cls) -> ConnSet:
        return _ALL

    @classmethod
    def none(cls) -> ConnSet:
        return _NONE

    @classmethod
    def ports(cls, protocol: str, first: int, last: int | None = None) -> ConnSet:
        bits = port_range_bits(first, first if last is None else last)
        return cls.of_protocol(protocol, bits)

    @classmethod
    def of_protocol(cls, protocol: str, bits: int) -> ConnSet:
        if protocol == "TCP":
            return cls(tcp=bits)
        if protocol == "UDP":
            return cls(udp=bits)
        if protocol == "SCTP":
            return cls(sctp=bits)
        raise ValueError(f"unknown protocol {protocol!r}")

    def bits(self, protocol: str) -> int:
        return {"TCP": self.tcp, "UDP": self.udp, "SCTP": self.sctp}[protocol]

    # The identity shortcuts keep the shared empty and full sets shared, so that the
    # common cases (a rule without ports, a side without rules) cost no 8 KB operations.
    def __or__(self, other: ConnSet) -> ConnSet:
        if self is _NONE or other is _ALL:
            return other
        if other is _NONE or self is _ALL:
            return self
        return ConnSet(
            self.tcp | other.tcp, self.udp | other.udp, self.sctp | other.sctp,
            self.other or other.other,
        )

    def __and__(self, other: ConnSet) -> ConnSet:
        if self is _NONE or other is _ALL:
            return self
        if other is _NONE or self is _ALL:
            return other
        return ConnSet(
            self.tcp & other.tcp, self.udp & other.udp, self.sctp & other.sctp,
            self.other and other.other,
        )

    def __sub__(self, other: ConnSet) -> ConnSet:
        # a ^ (a & b), not a & ~b: ~b of a 65,536-bit set is a negative big integer, and
        # masking a small set with it costs thirty times more (measured)
        if other is _NONE or self is _NONE:
            return self
        if other is _ALL or self is other:
            return _NONE
        return ConnSet(
            self.tcp ^ (self.tcp & other.tcp), self.udp ^ (self.udp & other.udp),
            self.sctp ^ (self.sctp & other.sctp), self.other and not other.other,
        )

    def __bool__(self) -> bool:
        return bool(self.tcp or self.udp or self.sctp or self.other)

    @property
    def is_all(self) -> bool:
        return self.tcp == ALL_PORTS and self.udp == ALL_PORTS and self.sctp == ALL_PORTS

    def allows(self, protocol: str, port: int | None) -> bool:
        """Whether a connection on (protocol, port) is in the set; port None = any port."""
        if protocol not in PROTOCOLS:
            return self.other
        bits = self.bits(protocol)
        if port is None:
            return bits != 0
        return bool(bits >> port & 1)

    def ranges(self) -> dict[str, list[tuple[int, int]]]:
        return {p: list(iter_ranges(self.bits(p))) for p in PROTOCOLS if self.bits(p)}

    def describe(self) -> str:
        """netpol-analyzer's connlist notation: `All Connections` or `TCP 80,8080-8081,UDP 53`."""
        if self.is_all:
            return "All Connections"
        if not (self.tcp or self.udp or self.sctp):
            return "No Connections"
        parts = []
        for protocol in sorted(PROTOCOLS):
            bits = self.bits(protocol)
            if bits:
                parts.append(f"{protocol} {format_ranges(bits)}")
        return ",".join(parts)

    def to_json(self) -> list[dict[str, object]]:
        """[{"protocol": "TCP", "ports": [[80, 80], [8080, 8081]]}, ...]; empty ports = all."""
        out: list[dict[str, object]] = []
        for protocol in PROTOCOLS:
            bits = self.bits(protocol)
            if bits == ALL_PORTS:
                out.append({"protocol": protocol, "ports": "all"})
            elif bits:
                out.append({"protocol": protocol, "ports": [list(r) for r in iter_ranges(bits)]})
        if self.other:
            out.append({"protocol": "other", "ports": "all"})
        return out

    def __str__(self) -> str:
        return self.describe()


def format_ranges(bits: int) -> str:
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in iter_ranges(bits))


_ALL = ConnSet(ALL_PORTS, ALL_PORTS, ALL_PORTS, True)
_NONE = ConnSet()
