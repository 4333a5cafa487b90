"""Pod names as `kubectl get pods` prints them, back to the workload that made them.

Controllers name their pods after themselves plus a generated suffix, so an on-call
engineer pastes `web-7c9f8d6b5-x2k9q` or `db-0`, never `web[Deployment]`:

* Deployment: `<name>-<pod-template-hash>-<5>` (the ReplicaSet is `<name>-<hash>`);
* StatefulSet: `<name>-<ordinal>`;
* DaemonSet, ReplicaSet, ReplicationController, Job: `<name>-<5>`;
* CronJob: `<name>-<scheduled time in minutes>-<5>` (its Job is `<name>-<minutes>`).

Generated parts use the API machinery's alphabet (`rand.SafeEncodeString`: consonants and
digits without vowels or look-alikes: bcdfghjklmnpqrstvwxz2456789), so `api-v2` is not
taken for a pod of `api`.
"""

from __future__ import annotations

import re

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
SUFFIXES: dict[str, str] = {
    "Deployment": rf"-{_SAFE}{{5,10}}-{_SAFE}{{5}}",
    "StatefulSet": r"-(0|[1-9][0-9]*)",
    "DaemonSet": rf"-{_SAFE}{{5}}",
    "ReplicaSet": rf"-{_SAFE}{{5}}",
    "ReplicationController": rf"-{_SAFE}{{5}}",
    "Job": rf"-{_SAFE}{{5}}",
    "CronJob": rf"-[0-9]+-{_SAFE}{{5}}",
}


def is_pod_of(pod_name: str, workload_name: str, kind: str) -> bool:
    """Whether `pod_name` is a name the controller of that kind gives its pods."""
    suffix = SUFFIXES.get(kind)
    if suffix is None or not pod_name.startswith(workload_name + "-"):
        return False
    return re.fullmatch(re.escape(workload_name) + suffix, pod_name) is not None
