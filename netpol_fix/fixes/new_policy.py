"""A new NetworkPolicy for one workload: where a fix puts rules that must not reach the
other pods of the policy it would otherwise edit.

Appending an allow rule to a namespace's default-deny lets every pod of the namespace
through; a policy selecting the workload by all its labels lets only it (and pods with the
same labels) through. The name says what it is for and never takes an existing one.
"""

from __future__ import annotations

from typing import Any

from netpol_fix.engine.network import Network
from netpol_fix.model.objects import Workload

MAX_NAME = 253


def policy_name(network: Network, namespace: str, workload: str, direction: str,
                taken: set[tuple[str, str]] | None = None) -> str:
    """`web-allow-egress`, or `web-allow-egress-2` when the namespace has that name or
    `taken` holds it (names other new policies of the run got); adds the name to `taken`."""
    suffix = f"-allow-{direction.lower()}"
    base = f"{workload[:MAX_NAME - len(suffix) - 4]}{suffix}"
    taken = set() if taken is None else taken
    name, n = base, 1
    while network.policy_named(namespace, name) is not None or (namespace, name) in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add((namespace, name))
    return name


def workload_policy(network: Network, workload: Workload, direction: str,
                    rules: list[dict[str, Any]],
                    taken: set[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A NetworkPolicy selecting `workload`'s pods by all their labels, isolating
    `direction` (they already are: the fix adds allowances only) with `rules`."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": policy_name(network, workload.namespace, workload.name,
                                         direction, taken),
                     "namespace": workload.namespace},
        "spec": {"podSelector": {"matchLabels": dict(sorted(workload.labels.items()))},
                 "policyTypes": [direction],
                 direction.lower(): rules},
    }
