"""CIDRs exactly as the Kubernetes API server parses them.

The API validates `ipBlock.cidr` and `except` with `netutils.ParseCIDRSloppy`
(k8s.io/utils/net/parse.go: "identical to Go's standard net.ParseCIDR, except that it
allows leading '0' characters on numbers"). Python's `ipaddress` differs both ways: it
accepts what Go refuses (an IPv6 zone `fe80::1%eth0/64`, surrounding whitespace once
stripped) and refuses what the API accepts (`010.0.0.0/8`, read as 10.0.0.0/8). So the
text is checked here the way Go reads it, then handed to `ipaddress` in canonical form.
Host bits may be set (`10.0.0.1/8` is accepted and means 10.0.0.0/8), as with Go.
"""

from __future__ import annotations

import ipaddress
import re

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DIGITS = re.compile(r"[0-9]+")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")


class CidrError(ValueError):
    """Not a CIDR the API server accepts; the message says why."""


def _ipv4(text: str) -> str | None:
    """Go's (sloppy) parseIPv4: four decimal fields, leading zeros allowed, each <= 255."""
    fields = text.split(".")
    if len(fields) != 4 or not all(_DIGITS.fullmatch(f) for f in fields):
        return None
    values = [int(f) for f in fields]
    if any(v > 255 for v in values):
        return None
    return ".".join(str(v) for v in values)


def parse_cidr(text: object) -> IPNetwork:
    """The network of `text` as the API server reads it; CidrError otherwise."""
    if not isinstance(text, str):
        raise CidrError(f"expected a string like 10.0.0.0/8, not {type(text).__name__}")
    address, slash, prefix = text.partition("/")
    if not slash:
        raise CidrError("expected address/prefix-length")
    if text != text.strip() or any(c.isspace() for c in text):
        raise CidrError("whitespace is not allowed")
    if "%" in address:
        raise CidrError("an IPv6 zone (%...) is not allowed in a CIDR")
    if not _DIGITS.fullmatch(prefix):
        raise CidrError(f"prefix length {prefix!r} is not a number")
    length = int(prefix)
    canonical = _ipv4(address)
    if canonical is not None:
        if length > 32:
            raise CidrError(f"prefix length {length} is more than 32 for IPv4")
        return ipaddress.IPv4Network(f"{canonical}/{length}", strict=False)
    if ":" not in address or not _IPV6_CHARS.fullmatch(address):
        raise CidrError(f"{address!r} is not an IP address")
    head, _, tail = address.rpartition(":")
    if "." in tail:  # an embedded IPv4 address, parsed the same sloppy way
        embedded = _ipv4(tail)
        if embedded is None:
            raise CidrError(f"{address!r} is not an IP address")
        address = f"{head}:{embedded}"
    if length > 128:
        raise CidrError(f"prefix length {length} is more than 128 for IPv6")
    try:
        return ipaddress.IPv6Network(f"{address}/{length}", strict=False)
    except ValueError as err:
        raise CidrError(str(err)) from None
