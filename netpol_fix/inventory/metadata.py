"""Object metadata validated as the API server validates it, before anything reads it.

Names, namespaces, labels and annotations reach every output: a name the API server would
refuse (a newline and `::error file=...::` in it, an escape sequence, `yes` parsed as a
boolean namespace) must not be analysed, echoed or sorted against strings. What the API
applies, per kind (k8s.io/apimachinery validation and pkg/apis/*/validation):

* `metadata.name`: a DNS-1123 subdomain (at most 253 characters of `a-z`, `0-9`, `-` and
  `.`, alphanumeric at both ends) for NetworkPolicy, Pod, workloads and Cilium policies; a
  DNS-1123 label (at most 63, no `.`) for Namespace; a DNS-1035 label (a DNS-1123 label
  starting with a letter) for Service.
* `metadata.namespace`: a DNS-1123 label, and a string (`namespace: yes` is the boolean
  true in YAML 1.1, which the API server refuses to decode as a string).
* labels: keys are qualified names (an optional DNS-subdomain prefix and `/`, a name of at
  most 63 characters), values strings of at most 63 characters (`on`, `0755` and lists are
  not strings once YAML has read them); annotations: string keys and string values.

Two severities. A value that is not a string, or holds a character outside printable
ASCII (a control character, whitespace, a non-ASCII letter), is an error and the object is
skipped: it cannot be echoed safely and no API server stores it. A printable value that
breaks only the DNS/label syntax (`Bad_Name`, an upper-case letter) is a warning and the
object is still analysed, as netpol-analyzer analyses it (its own test data has such
names), so verdicts stay comparable; the warning says the API server would refuse it.
"""

from __future__ import annotations

import re
from typing import Any

from netpol_fix.inventory.selectors import validate_label_key, validate_label_value

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

LABEL_NAMED = frozenset({"Namespace"})
"""Kinds whose name is a DNS-1123 label."""
DNS_1035_NAMED = frozenset({"Service"})
"""Kinds whose name is a DNS-1035 label."""
NAMESPACED = frozenset({"NetworkPolicy", "Pod", "Service", "Deployment", "StatefulSet",
                        "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob",
                        "CiliumNetworkPolicy"})


def _dns_label(value: str) -> str | None:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        return ("must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and '-', "
                "starting and ending with a letter or digit")
    return None


def name_problem(kind: str, name: Any) -> str | None:
    """Why `name` is not a valid metadata.name for `kind`, or None."""
    if not isinstance(name, str):
        return f"metadata.name {name!r} must be a string"
    if kind in LABEL_NAMED:
        problem = _dns_label(name)
    elif kind in DNS_1035_NAMED:
        problem = None if len(name) <= 63 and _DNS_1035.fullmatch(name) else (
            "must be a DNS-1035 label: at most 63 characters of a-z, 0-9 and '-', starting "
            "with a letter and ending with a letter or digit")
    else:
        problem = None if len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) else (
            "must be a DNS-1123 subdomain: at most 253 characters of a-z, 0-9, '-' and '.', "
            "starting and ending with a letter or digit")
    return f"metadata.name {name!r} {problem}" if problem else None


_PRINTABLE = re.compile(r"[!-~]*")


def _severity(value: Any) -> str:
    return "warning" if isinstance(value, str) and _PRINTABLE.fullmatch(value) else "error"


def metadata_problem(obj: dict[str, Any]) -> tuple[str, tuple[str, ...], str] | None:
    """The first reason the API server would refuse `obj`'s metadata, with the path of the
    offending field and the severity ("error": skip the object; "warning": say so and
    analyse it), or None. A missing name is left to the kind's own reader."""
    found = _metadata_problem(obj)
    if found is None:
        return None
    message, path, value = found
    return message, path, _severity(value)


def _metadata_problem(obj: dict[str, Any]) -> tuple[str, tuple[str, ...], Any] | None:
    kind = str(obj.get("kind"))
    meta = obj.get("metadata")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return "metadata must be a mapping", ("metadata",), None
    name = meta.get("name")
    if name is not None:
        problem = name_problem(kind, name)
        if problem:
            return problem, ("metadata", "name"), name
    namespace = meta.get("namespace")
    if namespace is not None and kind in NAMESPACED:
        if not isinstance(namespace, str):
            return (f"metadata.namespace {namespace!r} must be a string (quote it: YAML reads "
                    "yes/no/on/off as booleans and digits as numbers)"), ("metadata",
                                                                         "namespace"), None
        if namespace:
            problem = _dns_label(namespace)
            if problem:
                return (f"metadata.namespace {namespace!r} {problem}",
                        ("metadata", "namespace"), namespace)
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"metadata.{field} must be a mapping", ("metadata", field), None
        for key, value in values.items():
            if field == "labels":
                problem = validate_label_key(key) or validate_label_value(value)
            elif not isinstance(key, str) or not isinstance(value, str):
                problem = (f"annotation {key!r}: {value!r} must map a string to a string "
                           "(quote the value)")
            else:
                problem = None
            if problem:
                if field == "labels" and not isinstance(value, str):
                    problem += " (quote it: YAML reads on/off/yes/no, 0755, 1e3 as non-strings)"
                bad = value if isinstance(key, str) and _PRINTABLE.fullmatch(key) else key
                if field == "annotations":
                    bad = None
                return f"metadata.{field}: {problem}", ("metadata", field, str(key)), bad
    return None


def template_labels_problem(labels: Any) -> tuple[str, tuple[str, ...], str] | None:
    """The pod template's labels (what policies select a workload's pods by), validated as
    the object's own: (message, path below the template, severity), or None."""
    found = _metadata_problem({"kind": "Pod", "metadata": {"labels": labels}})
    if found is None:
        return None
    message, path, value = found
    return message, path, _severity(value)
