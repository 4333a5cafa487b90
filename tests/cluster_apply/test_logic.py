"""The judgement before any write: already present, a failed test, the patch file format."""

from __future__ import annotations

import json

import pytest

from netpol_fix.cluster.apply import (
    PatchFileError,
    already_present,
    backup_name,
    content,
    first_failed_test,
    judge,
    parse_entries,
    summarize,
)
from netpol_fix.cluster.objects import Ref

RULE = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def policy(**spec: object) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "shop", "resourceVersion": "7"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec}}


def test_whole_array_add_is_present_only_when_the_array_is_that_value() -> None:
    changes = [{"op": "add", "path": "/spec/egress", "value": [RULE]}]
    assert already_present(changes, policy(egress=[RULE]))
    assert not already_present(changes, policy())
    assert not already_present(changes, policy(egress=[RULE, {"to": []}]))


def test_append_is_present_when_the_array_holds_the_value() -> None:
    changes = [{"op": "add", "path": "/spec/egress/-", "value": RULE}]
    assert already_present(changes, policy(egress=[{"ports": [{"port": 80}]}, RULE]))
    assert not already_present(changes, policy(egress=[{"ports": [{"port": 80}]}]))
    assert not already_present(changes, policy())  # no array at all


def test_replace_is_present_when_the_value_is_already_there() -> None:
    changes = [{"op": "replace", "path": "/spec/policyTypes", "value": ["Ingress", "Egress"]}]
    assert already_present(changes, policy())
    live = policy()
    live["spec"]["policyTypes"] = ["Ingress"]
    assert not already_present(changes, live)


def test_first_failed_test_names_the_operation_and_path() -> None:
    ops = [{"op": "test", "path": "/spec/podSelector", "value": {}},
           {"op": "add", "path": "/spec/egress", "value": [RULE]}]
    assert first_failed_test(ops, policy()) is None
    changed = policy()
    changed["spec"]["podSelector"] = {"matchLabels": {"app": "web"}}
    assert first_failed_test(ops, changed) == "test at /spec/podSelector"


def test_tests_after_an_add_see_the_added_value() -> None:
    ops = [{"op": "add", "path": "/spec/egress", "value": [RULE]},
           {"op": "test", "path": "/spec/egress/0", "value": RULE}]
    assert first_failed_test(ops, policy()) is None


def test_a_test_of_a_missing_path_fails() -> None:
    ops = [{"op": "test", "path": "/spec/ingress/0", "value": {}}]
    assert first_failed_test(ops, policy()) == "test at /spec/ingress/0"


def test_content_drops_what_the_server_manages() -> None:
    live = policy()
    live["metadata"].update(uid="u", generation=3, creationTimestamp="t",
                            managedFields=[{"manager": "x"}])
    live["status"] = {}
    out = content(live)
    assert out["metadata"] == {"name": "deny", "namespace": "shop"}
    assert "status" not in out and out["spec"] == live["spec"]
    assert live["metadata"]["uid"] == "u"  # the input is not modified


def test_summary_leaves_tests_out() -> None:
    ops = [{"op": "test", "path": "/spec/podSelector", "value": {}},
           {"op": "add", "path": "/spec/egress", "value": []}]
    assert summarize(ops) == "add /spec/egress"


def test_backup_names() -> None:
    assert backup_name(Ref("networking.k8s.io/v1", "NetworkPolicy", "shop", "deny")) == \
        "networkpolicy.shop.deny.yaml"
    assert backup_name(Ref("v1", "Namespace", None, "shop")) == "namespace.shop.yaml"


def test_parse_entries_reads_fix_output() -> None:
    text = json.dumps([{
        "rule": "missing-dns-egress",
        "object": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "namespace": "shop", "name": "deny"},
        "operations": [{"op": "add", "path": "/spec/egress", "value": [RULE]}],
        "creates": [],
        "opens": [{"from": "shop/Deployment/web", "to": "kube-system/k8s-app=kube-dns",
                   "protocol": "UDP", "port": 53}],
        "applicability": "safe"}])
    (entry,) = parse_entries(text)
    assert entry.ref == Ref("networking.k8s.io/v1", "NetworkPolicy", "shop", "deny")
    assert str(entry.opens[0]) == "shop/Deployment/web -> kube-system/k8s-app=kube-dns UDP 53"


@pytest.mark.parametrize("text", ["{", "{}", '[{"object": {"kind": "X"}}]',
                                  '[{"operations": [{"path": "/a"}]}]'])
def test_parse_entries_rejects_other_input(text: str) -> None:
    with pytest.raises(PatchFileError):
        parse_entries(text)


def test_a_test_holds_up_to_api_defaulting_but_not_beyond() -> None:
    """The manifest omits `protocol`; the live object holds the API's default, TCP."""
    live = policy(ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}])
    from_file = [{"op": "test", "path": "/spec/ingress", "value": [{"ports": [{"port": 80}]}]}]
    assert first_failed_test(from_file, live) is None
    udp = [{"op": "test", "path": "/spec/ingress",
            "value": [{"ports": [{"port": 80, "protocol": "UDP"}]}]}]
    assert first_failed_test(udp, live) == "test at /spec/ingress"


def test_an_appended_rule_is_present_up_to_api_defaulting() -> None:
    live = policy(ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}])
    append = [{"op": "add", "path": "/spec/ingress/-", "value": {"ports": [{"port": 80}]}}]
    assert already_present(append, live)
    other = [{"op": "add", "path": "/spec/ingress/-", "value": {"ports": [{"port": 81}]}}]
    assert not already_present(other, live)


def test_a_test_that_holds_up_to_defaulting_is_sent_with_the_live_value() -> None:
    live = policy(ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}])
    ops = [{"op": "test", "path": "/spec/ingress", "value": [{"ports": [{"port": 80}]}]},
           {"op": "test", "path": "/spec/podSelector", "value": {}},
           {"op": "add", "path": "/spec/ingress/-", "value": {}}]
    failed, to_send = judge(ops, live)
    assert failed is None
    assert to_send == [{"op": "test", "path": "/spec/ingress", "value": live["spec"]["ingress"]},
                       *ops[1:]]
