"""Grouping: exact counts, first/last seen, one group per key, memory by groups."""

from __future__ import annotations

from netpol_fix.drops.formats import parse_line
from netpol_fix.drops.group import DROPPED, FORWARDED, Grouper, time_key
from netpol_fix.drops.resolve import Resolver
from tests.drops.helpers import endpoint, hubble

WEB = endpoint("shop", "web-7c9f8d6b5-abcde", {"app": "web"})
WEB2 = endpoint("shop", "web-7c9f8d6b5-zzzzz", {"app": "web"})
API = endpoint("shop", "api-6d8f7c9b4-xyz12", {"app": "api"})


def group(lines: list[str]) -> Grouper:
    grouper = Grouper(Resolver([]))
    for line in lines:
        flow = parse_line(line)
        assert flow is not None
        grouper.add(flow)
    return grouper


def test_time_key_orders_rfc3339_with_any_fraction_and_offsets() -> None:
    stamps = ["2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.123456789Z",
              "2026-03-01T10:00:00Z", "2026-03-01T11:00:00.2+01:00"]
    assert sorted(stamps, key=time_key) == [
        "2026-03-01T10:00:00Z", "2026-03-01T10:00:00.123456789Z",
        "2026-03-01T11:00:00.2+01:00", "2026-03-01T10:00:00.5Z"]


def test_counts_first_and_last_seen_are_exact_whatever_the_order() -> None:
    lines = [hubble(src=WEB, dst=API, port=8080, time=t) for t in (
        "2026-03-01T10:00:05Z", "2026-03-01T10:00:01.999999999Z", "2026-03-01T10:00:09.1Z",
        "2026-03-01T10:00:02Z")]
    lines.append(hubble(src=WEB2, dst=API, port=8080, time="2026-03-01T10:00:00.5Z"))
    grouper = group(lines)
    [only] = grouper.ranked()
    assert only.count == 5  # two pods of one Deployment: one group
    assert (only.first_seen, only.last_seen) == ("2026-03-01T10:00:00.5Z",
                                                 "2026-03-01T10:00:09.1Z")


def test_port_protocol_direction_and_reason_each_make_a_group_most_frequent_first() -> None:
    lines = [hubble(src=WEB, dst=API, port=8080)] * 3 + \
        [hubble(src=WEB, dst=API, port=8081)] * 5 + \
        [hubble(src=WEB, dst=API, port=8080, protocol="UDP")] * 2 + \
        [hubble(src=WEB, dst=API, port=8080, direction="INGRESS")] + \
        [hubble(src=WEB, dst=API, port=8080, reason="POLICY_DENY")] * 4
    ranked = group(lines).ranked()
    assert [(g.port, g.protocol, g.direction, g.reason, g.count) for g in ranked] == [
        (8081, "TCP", "EGRESS", "POLICY_DENIED", 5),
        (8080, "TCP", "EGRESS", "POLICY_DENY", 4),
        (8080, "TCP", "EGRESS", "POLICY_DENIED", 3),
        (8080, "UDP", "EGRESS", "POLICY_DENIED", 2),
        (8080, "TCP", "INGRESS", "POLICY_DENIED", 1)]


def test_forwarded_flows_are_counted_and_only_new_connections_are_grouped() -> None:
    lines = [hubble(src=WEB, dst=API, port=8080, verdict="FORWARDED")] * 2 + \
        [hubble(src=WEB, dst=API, port=8080, verdict="FORWARDED", syn=False)] * 7 + \
        [hubble(src=API, dst=WEB, port=40000, verdict="FORWARDED", reply=True)] * 3 + \
        [hubble(src=WEB, dst=API, port=8080, verdict="TRACED")]
    grouper = group(lines)
    assert (grouper.flows, grouper.forwarded, grouper.ignored) == (13, 12, 1)
    assert grouper.ranked(DROPPED) == []
    [new] = grouper.ranked(FORWARDED)
    assert new.count == 2


def test_memory_grows_with_the_groups_not_the_lines() -> None:
    grouper = Grouper(Resolver([]))
    first = parse_line(hubble(src=WEB, dst=API, port=8080))
    second = parse_line(hubble(src=API, dst=WEB, port=9090))
    assert first is not None and second is not None
    for _ in range(50_000):
        grouper.add(first)
        grouper.add(second)
    assert len(grouper.groups) == 2
    assert sorted(g.count for g in grouper.groups.values()) == [50_000, 50_000]


def test_a_calico_line_counts_the_flows_it_aggregates() -> None:
    line = ('{"start_time":1577834657,"source_namespace":"shop","source_name_aggr":"web-*",'
            '"source_labels":{"labels":["app=web"]},"dest_namespace":"shop",'
            '"dest_name_aggr":"api-*","dest_labels":{"labels":["app=api"]},"dest_port":8080,'
            '"proto":"tcp","action":"deny","reporter":"src","num_flows":7}')
    [only] = group([line, line]).ranked()
    assert only.count == 14 and only.source.ref == "shop/web[Pod]"


def test_a_denied_packet_reported_as_policy_verdict_and_drop_counts_once() -> None:
    """With policy-verdict notifications, Cilium reports each denied packet as a
    policy-verdict event (type 5) and a drop event (type 1): 3 packets, 6 lines."""
    drop = hubble(src=WEB, dst=API, port=8080)
    verdict = hubble(src=WEB, dst=API, port=8080, event_type={"type": 5},
                     policy_match_type=0)
    [only] = group([drop, verdict] * 3).ranked()
    assert only.count == 3
    [alone] = group([verdict] * 4).ranked()
    assert alone.count == 4
