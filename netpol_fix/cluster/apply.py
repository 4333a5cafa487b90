"""Apply planned fixes to a live cluster, guarded so that nothing is applied blindly.

The input is the canonical form of the fixes (`fix --dry-run --format json-patch`): per
object, JSON patch operations that start with `test`s of every value the fix relied on. For
each object the live state is read and judged:

- the fix is already present (its changes would change nothing): reported, not re-applied;
- a `test` no longer holds: refused, naming the operation and path, because the fix was
  planned against a different object and could now open or close the wrong traffic;
- otherwise the operations are sent, first as a server-side dry-run, then for real, behind a
  `test` of `/metadata/resourceVersion` from the read they were judged on. A write that lost
  a race with someone else's (409/422 with a newer resourceVersion) is re-read and re-judged,
  a bounded number of times.

New objects (Cilium and admin policies) are created after a server-side dry-run; one that exists with
the same spec counts as already applied.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
import yaml
from kubernetes.client.exceptions import ApiException

from netpol_fix.cluster.defaults import with_defaults
from netpol_fix.cluster.objects import ClusterObjects, Ref, UnsupportedKind, create_refusal
from netpol_fix.model.findings import UNSAFE, Flow
from netpol_fix.model.secrets import scrub

APPLIED, WOULD_APPLY, ALREADY, REFUSED, SKIPPED = (
    "applied", "would apply", "already applied", "refused", "skipped")
OK_STATUSES = frozenset({APPLIED, ALREADY})
"""Exit code 0 needs every change in the cluster; a dry-run with changes to make exits 1,
as `fix --dry-run` does."""
SERVER_MANAGED = ("resourceVersion", "uid", "managedFields", "creationTimestamp",
                  "generation", "selfLink")
"""Metadata the server owns: a backup without them can be given back to `kubectl apply`."""
REPLAN_ATTEMPTS = 3


class BackupError(Exception):
    """A backup could not be written; the object it was for has not been changed."""


class PatchFileError(Exception):
    """The patch file is not the output of `fix --format json-patch`."""


@dataclass
class Entry:
    """One element of `fix --format json-patch`: the operations for one object, the objects
    the fix creates and the flows it opens (both ride on the fix's first element)."""

    rule: str
    ref: Ref | None
    operations: list[dict[str, Any]]
    creates: list[dict[str, Any]]
    opens: list[Flow]
    applicability: str

    @property
    def changes(self) -> list[dict[str, Any]]:
        return [op for op in self.operations if op.get("op") != "test"]


@dataclass
class Outcome:
    """What happened to one object; `detail` says why or what."""

    status: str
    subject: str
    detail: str
    rule: str = ""
    opens: list[Flow] = field(default_factory=list)
    forbidden: bool = False
    """The server answered 403: missing permissions make the run exit 2 (as for `scan`)."""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def line(self) -> str:
        text = f"{self.status}: {self.subject}"
        if self.rule:
            text += f" [{self.rule}]"
        if self.detail:
            text += f": {self.detail}"
        if self.opens and self.status in (APPLIED, WOULD_APPLY):
            text += "; opens " + ", ".join(str(f) for f in self.opens)
        return text


def parse_entries(text: str) -> list[Entry]:
    """Entries from the JSON that `fix --dry-run --format json-patch` prints."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PatchFileError(f"not JSON: {err}") from err
    except RecursionError:
        raise PatchFileError("nested too deeply to be fix output") from None
    return entries_from_data(data)


def entries_from_data(data: Any) -> list[Entry]:
    """Entries from the parsed list, e.g. `fixes.canonical.patch_entries` output when the fixes are
    planned in the same process (`apply --cluster`)."""
    if not isinstance(data, list):
        raise PatchFileError("expected a JSON list, the output of "
                             "`netpol-fix fix --dry-run --format json-patch`")
    entries = []
    for i, item in enumerate(data):
        try:
            entries.append(_entry(item))
        except KeyError as err:
            raise PatchFileError(f"element {i}: not a fix entry (missing {err})") from None
        except (TypeError, ValueError, AttributeError) as err:
            raise PatchFileError(f"element {i}: not a fix entry ({err})") from None
    return entries


def _entry(item: Any) -> Entry:
    """One element of the patch file, its shape checked before anything reads it (a
    hand-edited file can hold anything: `[5]`, `[[]]`, an operation that is a string)."""
    if not isinstance(item, dict):
        raise TypeError(f"expected an object with rule, object and operations, not "
                         f"{json.dumps(item)[:60]}")
    operations = _list_of_dicts(item, "operations")
    for op in operations:
        if "op" not in op or not isinstance(op.get("path"), str):
            raise ValueError(f"bad JSON patch operation {json.dumps(op)[:80]}")
    creates = _list_of_dicts(item, "creates")
    for new in creates:
        Ref.of(new)  # validates apiVersion, kind and metadata.name
    opens = []
    for flow in _list_of_dicts(item, "opens"):
        if not isinstance(flow.get("from"), str) or not isinstance(flow.get("to"), str):
            raise TypeError("opens: each flow needs string 'from' and 'to'")
        opens.append(Flow(flow["from"], flow["to"], flow.get("protocol"), flow.get("port"),
                          flow.get("endPort")))
    obj = item.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise ValueError("object: expected {apiVersion, kind, namespace, name}")
    return Entry(rule=str(item.get("rule", "")), ref=Ref.from_json(obj) if obj else None,
                 operations=list(operations), creates=list(creates), opens=opens,
                 applicability=str(item.get("applicability", "safe")))


def _list_of_dicts(item: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key}: expected a list of objects")
    return value


def summarize(operations: Iterable[dict[str, Any]]) -> str:
    """`add /spec/egress, replace /spec/policyTypes`: what a patch changes, tests left out."""
    return ", ".join(f"{op['op']} {op['path']}" for op in operations
                     if op.get("op") != "test") or "no change"


def first_failed_test(operations: list[dict[str, Any]], live: dict[str, Any]) -> str | None:
    """Why `operations` cannot apply to `live` ("test at /spec/podSelector"), or None."""
    return judge(operations, live)[0]


def judge(operations: list[dict[str, Any]], live: dict[str, Any]
          ) -> tuple[str | None, list[dict[str, Any]]]:
    """Check every operation against `live`: the first failure (or None), and the operations
    to send, in which a `test` that holds only up to API defaulting (api_defaults) carries the
    live value, because the server compares exactly.

    Applied one by one, in order, because a `test` after an `add` checks the added value.
    Rewriting a test's value weakens nothing: it is sent behind the resourceVersion test of
    the very object it was compared with.
    """
    doc = copy.deepcopy(live)
    to_send = []
    for op in _onto_live_labels(operations, live):
        if _overwrites_label(op, doc):
            return (f"add at {op['path']}: the live object already has that label with "
                    "another value"), []
        try:
            doc = jsonpatch.apply_patch(doc, [op])
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            if op.get("op") == "test" and _holds_with_defaults(doc, op):
                op = {**op, "value": jsonpointer.resolve_pointer(doc, op["path"])}
            elif op.get("op") == "test":
                return f"test at {op['path']}", []
            else:
                return f"{op['op']} at {op['path']} ({err})", []
        to_send.append(op)
    return None, to_send


LABELS = "/metadata/labels"


def _onto_live_labels(operations: list[dict[str, Any]], live: dict[str, Any]
                      ) -> list[dict[str, Any]]:
    """An `add` of the whole labels map (the manifest had none) becomes one add per label
    when the live object has labels (a live Namespace always has kubernetes.io/metadata.name):
    replacing the map would drop the server's labels."""
    labels = (live.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict):
        return operations
    result = []
    for op in operations:
        if op.get("op") == "add" and op.get("path") == LABELS and isinstance(
                op.get("value"), dict):
            result += [{"op": "add", "path": f"{LABELS}/{_escape(key)}", "value": value}
                       for key, value in op["value"].items()]
        else:
            result.append(op)
    return result


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _overwrites_label(op: dict[str, Any], doc: dict[str, Any]) -> bool:
    """An add onto a label the object already holds with another value: the fix relied on
    the key being absent (or equal), so it must not silently replace someone's label."""
    path = op.get("path", "")
    if op.get("op") != "add" or not path.startswith(LABELS + "/"):
        return False
    key = path[len(LABELS) + 1:].replace("~1", "/").replace("~0", "~")
    labels = (doc.get("metadata") or {}).get("labels")
    return isinstance(labels, dict) and key in labels and labels[key] != op.get("value")


def _holds_with_defaults(doc: dict[str, Any], test: dict[str, Any]) -> bool:
    """Whether putting the tested value in place changes nothing once both are defaulted."""
    try:
        placed = jsonpatch.apply_patch(doc, [{"op": "replace", "path": test["path"],
                                              "value": test.get("value")}])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return False  # the path does not exist: nothing to compare with
    return bool(with_defaults(placed) == with_defaults(doc))


def already_present(changes: list[dict[str, Any]], live: dict[str, Any]) -> bool:
    """True when the changes would change nothing: applying them gives `live` back (up to
    API defaulting), where an append (`add .../-`) counts as present when the array already
    holds its value."""
    if not changes:
        return True
    rest = []
    for op in changes:
        inserted = _inserted_at(op, live)
        if inserted is not None:
            if not inserted:
                return False
            continue
        if op.get("op") == "add" and op["path"].endswith("/-"):
            try:
                appended = with_defaults(jsonpatch.apply_patch(live, [op]))
                array = jsonpointer.resolve_pointer(appended, op["path"][:-2])
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
                return False
            if not isinstance(array, list) or array[-1] not in array[:-1]:
                return False
        else:
            rest.append(op)
    try:
        return bool(with_defaults(jsonpatch.apply_patch(live, rest)) == with_defaults(live))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return False


def _inserted_at(op: dict[str, Any], live: dict[str, Any]) -> bool | None:
    """For an insert into an array (`add /spec/egress/0`: an admin policy's rules are
    ordered, so a fix puts its Allow first): whether the live array already holds the value
    at that index (True), or not (False); None for any other operation. Applying an insert
    always changes the array, so without this a rerun would insert the rule again."""
    parent, _, index = str(op.get("path", "")).rpartition("/")
    if op.get("op") != "add" or not index.isdigit():
        return None
    try:
        array = jsonpointer.resolve_pointer(with_defaults(live), parent)
        placed = jsonpointer.resolve_pointer(
            with_defaults(jsonpatch.apply_patch(live, [op])), str(op["path"]))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return False  # the array is not there: the insert cannot be present
    if not isinstance(array, list):
        return None
    return int(index) < len(array) and array[int(index)] == placed


def content(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without server-managed metadata and status: what a user wrote."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in SERVER_MANAGED:
        meta.pop(key, None)
    return out


def api_message(err: ApiException) -> str:
    """The server's own explanation (its Status `message`), else the HTTP reason; scrubbed
    of the kubeconfig's credentials, which a server may echo (`Unauthorized: Bearer ...`)."""
    try:
        body = json.loads(err.body or "")
        if isinstance(body, dict) and body.get("message"):
            return scrub(f"{err.status}: {body['message']}")
    except (TypeError, ValueError):
        pass
    return scrub(f"{err.status}: {err.reason}")


def fatal(err: ApiException) -> bool:
    """No answer at all (status 0: TLS or connection failure), or credentials rejected
    (401): every other object would fail the same way, so the command stops (exit 2)."""
    return not err.status or err.status == 401


class Applier:
    """Applies entries one object at a time; never raises for an object the server refuses
    (that becomes a REFUSED outcome), only for configuration and connection failures."""

    def __init__(self, objects: ClusterObjects, *, dry_run: bool = False,
                 unsafe_fixes: bool = False, backup_dir: Path | None = None,
                 report: Callable[[Outcome], None] | None = None) -> None:
        self.objects = objects
        self.dry_run = dry_run
        self.unsafe_fixes = unsafe_fixes
        self.backup_dir = backup_dir
        self.report = report or (lambda outcome: None)
        self._backed_up: set[Ref] = set()

    def apply(self, entries: Iterable[Entry]) -> list[Outcome]:
        outcomes = []
        for entry in entries:
            for outcome in self.apply_entry(entry):
                self.report(outcome)
                outcomes.append(outcome)
        return outcomes

    def apply_entry(self, entry: Entry) -> list[Outcome]:
        subjects = ([str(entry.ref)] if entry.changes and entry.ref else []) + [
            str(Ref.of(obj)) for obj in entry.creates]
        if entry.applicability == UNSAFE and not self.unsafe_fixes:
            return [Outcome(SKIPPED, s, "unsafe fix (pass --unsafe-fixes to apply it)",
                            entry.rule) for s in subjects]
        outcomes = []
        ref = entry.ref
        if entry.changes and ref:
            outcomes.append(self._refusing_on_error(
                entry, str(ref), lambda: self._guarded(entry, ref)))
        for obj in entry.creates:
            outcomes.append(self._refusing_on_error(
                entry, str(Ref.of(obj)), partial(self._create, entry, obj)))
        if outcomes:
            outcomes[0].opens = entry.opens
        return outcomes

    @staticmethod
    def _refusing_on_error(entry: Entry, subject: str, work: Callable[[], Outcome]) -> Outcome:
        """An HTTP error answer (403 from RBAC, say) refuses this object only; no answer at
        all (status 0: TLS or connection failure) is the caller's problem and propagates."""
        try:
            return work()
        except ApiException as err:
            if fatal(err):
                raise
            return Outcome(REFUSED, subject, api_message(err), entry.rule,
                           forbidden=err.status == 403)

    def _guarded(self, entry: Entry, ref: Ref) -> Outcome:
        def outcome(status: str, detail: str) -> Outcome:
            return Outcome(status, str(ref), detail, entry.rule)

        replanned = 0
        while True:
            try:
                live = self.objects.get(ref)
            except UnsupportedKind as err:
                return outcome(REFUSED, str(err))
            if live is None:
                return outcome(REFUSED, "not found in the cluster")
            if already_present(_onto_live_labels(entry.changes, live), live):
                return outcome(ALREADY, summarize(entry.operations))
            failed, operations = judge(entry.operations, live)
            if failed:
                return outcome(REFUSED, f"object changed since the fix was planned: {failed}")
            version = (live.get("metadata") or {}).get("resourceVersion")
            guard = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
            try:
                done = self._write(ref, live, guard + operations)
            except ApiException as err:
                if fatal(err):
                    raise
                if err.status in (409, 422) and self._changed_since(ref, version):
                    replanned += 1  # someone else wrote in between: judge afresh
                    if replanned <= REPLAN_ATTEMPTS:
                        continue
                    return outcome(REFUSED, f"the object kept changing while it was being "
                                            f"patched ({replanned} attempts); try again")
                refused = outcome(REFUSED, f"the API server rejected the patch "
                                           f"({api_message(err)})")
                refused.forbidden = err.status == 403
                return refused
            note = f" (re-planned after {replanned} concurrent change(s))" if replanned else ""
            return outcome(done, summarize(entry.operations) + note)

    def _changed_since(self, ref: Ref, version: str | None) -> bool:
        """Whether the guard failed because the object moved on (not because the server
        rejected the operations themselves)."""
        fresh = self.objects.get(ref)
        return fresh is None or (fresh.get("metadata") or {}).get("resourceVersion") != version

    def _write(self, ref: Ref, live: dict[str, Any], operations: list[dict[str, Any]]) -> str:
        preview = self.objects.patch(ref, operations, dry_run=True)
        if content(preview) == content(live):
            return ALREADY  # the server's defaulting makes the change a no-op
        if self.dry_run:
            return WOULD_APPLY
        self._backup(ref, live)
        self.objects.patch(ref, operations, dry_run=False)
        return APPLIED

    def _create(self, entry: Entry, obj: dict[str, Any]) -> Outcome:
        ref = Ref.of(obj)

        def outcome(status: str, detail: str) -> Outcome:
            return Outcome(status, str(ref), detail, entry.rule)

        refusal = create_refusal(obj)
        if refusal is not None:
            return outcome(REFUSED, refusal)
        for _attempt in range(REPLAN_ATTEMPTS):
            try:
                existing = self.objects.get(ref)
            except UnsupportedKind as err:
                return outcome(REFUSED, str(err))
            if existing is not None:
                if _spec(existing) == _spec(obj):
                    return outcome(ALREADY, "exists with the same spec")
                return outcome(REFUSED, "exists with a different spec; not overwritten")
            try:
                self.objects.create(obj, dry_run=True)
                if self.dry_run:
                    return outcome(WOULD_APPLY, "create")
                self.objects.create(obj, dry_run=False)
            except ApiException as err:
                if fatal(err):
                    raise
                if err.status == 409:
                    continue  # created meanwhile: compare with what is there now
                refused = outcome(REFUSED, f"the API server rejected it ({api_message(err)})")
                refused.forbidden = err.status == 403
                return refused
            return outcome(APPLIED, "created")
        return outcome(REFUSED, "kept being created and deleted concurrently; gave up")

    def _backup(self, ref: Ref, live: dict[str, Any]) -> None:
        """Write the object as it was before this run's first change to it."""
        if self.backup_dir is None or ref in self._backed_up:
            return
        obj = content(live)
        obj.setdefault("apiVersion", ref.api_version)
        obj.setdefault("kind", ref.kind)
        path = self.backup_dir / backup_name(ref)
        try:
            self.backup_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
        except OSError as err:
            raise BackupError(f"cannot write the backup {path}: {err}") from err
        self._backed_up.add(ref)


def backup_name(ref: Ref) -> str:
    """`networkpolicy.shop.default-deny.yaml`: one file per object, stable across runs."""
    parts = [ref.kind.lower(), *([ref.namespace] if ref.namespace else []), ref.name]
    return ".".join(parts) + ".yaml"


def _spec(obj: dict[str, Any]) -> Any:
    return {k: obj.get(k) for k in ("spec", "specs")}
