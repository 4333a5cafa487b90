"""Checking the requests our forge clients send against what the forges publish.

GitHub: its OpenAPI description (npm `@octokit/openapi`, GitHub's own, dereferenced), with
a small validator for the JSON-schema subset its request bodies use (type, enum, required,
properties, items, minItems, oneOf/anyOf). Unknown top-level body fields are refused even
where the schema leaves additionalProperties open: GitHub ignores them silently, which is
exactly the kind of bug this is meant to catch.

GitLab publishes no OpenAPI description for merge requests in npm; GITLAB_MR_API encodes
the parameters of its "Merge requests API" documentation (docs.gitlab.com/api/
merge_requests/: list, create, update), looked up for this test, not generated.
"""

from __future__ import annotations

import re
from typing import Any

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


def schema_errors(value: Any, schema: dict[str, Any], where: str = "body",
                  top: bool = True) -> list[str]:
    """Why `value` does not satisfy `schema` (empty list: it does)."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            results = [schema_errors(value, alt, where, top) for alt in schema[key]]
            if not any(not errs for errs in results):
                return [f"{where}: matches none of {key}: " + " | ".join(
                    "; ".join(e) for e in results)]
            return []
    errors: list[str] = []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(isinstance(value, JSON_TYPES[k]) and not (
            k in ("integer", "number") and isinstance(value, bool)) for k in kinds):
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{where}: missing required field {name!r}"
                   for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name not in props:
                if top or schema.get("additionalProperties") is False:
                    errors.append(f"{where}: unknown field {name!r}")
                continue
            errors += schema_errors(item, props[name], f"{where}.{name}", False)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{where}[{i}]", False)
    return errors


def _path_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


class OpenApi:
    """Operations of an OpenAPI description, found by method and concrete path."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.paths = [(_path_regex(t), t, ops) for t, ops in document["paths"].items()]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for regex, template, ops in self.paths:
            if regex.match(path) and method.lower() in ops:
                return template, ops[method.lower()]
        return None

    def request_errors(self, method: str, path: str, query: dict[str, str],
                       body: Any) -> list[str]:
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: no such operation in the OpenAPI description"]
        template, op = found
        where = f"{method} {template}"
        errors = []
        declared = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
        for name, value in query.items():
            if name not in declared:
                errors.append(f"{where}: unknown query parameter {name!r}")
            elif "schema" in declared[name]:
                errors += schema_errors(value, declared[name]["schema"], f"{where} ?{name}")
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            if body is not None:
                errors.append(f"{where}: sends a body the operation does not take")
            return errors
        if body is None:
            if op["requestBody"].get("required"):
                errors.append(f"{where}: the operation requires a body")
            return errors
        return errors + schema_errors(body, content["schema"], where)


# GitLab "Merge requests API": parameters as documented (id / merge_request_iid are path
# parameters). Types: string unless listed.
GITLAB_MR_API: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/projects/{id}/merge_requests"): {
        "query": {"approved_by_ids[]", "approver_ids[]", "assignee_id", "author_id",
                  "author_username", "created_after", "created_before", "deployed_after",
                  "deployed_before", "environment", "iids[]", "in", "labels", "milestone",
                  "my_reaction_emoji", "not", "order_by", "page", "per_page", "reviewer_id",
                  "reviewer_username", "scope", "search", "sort", "source_branch", "state",
                  "target_branch", "updated_after", "updated_before", "view", "wip",
                  "with_labels_details", "with_merge_status_recheck"},
        "enums": {"state": ["opened", "closed", "locked", "merged", "all"]},
    },
    ("POST", "/projects/{id}/merge_requests"): {
        "required": {"source_branch", "target_branch", "title"},
        "body": {"source_branch": "string", "target_branch": "string", "title": "string",
                 "allow_collaboration": "boolean", "approvals_before_merge": "integer",
                 "allow_maintainer_to_push": "boolean", "assignee_id": "integer",
                 "assignee_ids": "array", "description": "string", "labels": "string",
                 "merge_after": "string", "milestone_id": "integer",
                 "remove_source_branch": "boolean", "reviewer_ids": "array",
                 "squash": "boolean", "target_project_id": "integer"},
    },
    ("PUT", "/projects/{id}/merge_requests/{merge_request_iid}"): {
        "required": set(),
        "body": {"add_labels": "string", "allow_collaboration": "boolean",
                 "allow_maintainer_to_push": "boolean", "assignee_id": "integer",
                 "assignee_ids": "array", "description": "string",
                 "discussion_locked": "boolean", "labels": "string",
                 "merge_after": "string", "milestone_id": "integer",
                 "remove_labels": "string", "remove_source_branch": "boolean",
                 "reviewer_ids": "array", "squash": "boolean", "state_event": "string",
                 "target_branch": "string", "title": "string"},
        "enums": {"state_event": ["close", "reopen"]},
    },
}


def gitlab_request_errors(method: str, path: str, query: dict[str, str],
                          body: Any) -> list[str]:
    """Check one request against the documented GitLab merge requests parameters."""
    for (m, template), spec in GITLAB_MR_API.items():
        if m == method and _path_regex(template).match(path):
            break
    else:
        return [f"{method} {path}: not a documented merge requests endpoint"]
    where = f"{method} {template}"
    errors = [f"{where}: unknown query parameter {q!r}" for q in query
              if q not in spec.get("query", set())]
    for name, allowed in spec.get("enums", {}).items():
        value = query.get(name, body.get(name) if isinstance(body, dict) else None)
        if value is not None and value not in allowed:
            errors.append(f"{where}: {name}={value!r} not in {allowed}")
    fields = spec.get("body")
    if fields is None:
        return errors + ([f"{where}: sends a body"] if body is not None else [])
    if not isinstance(body, dict) or not body:
        return errors + [f"{where}: expected a JSON object with at least one field"]
    errors += [f"{where}: missing required {f!r}" for f in spec["required"] - body.keys()]
    for name, value in body.items():
        if name not in fields:
            errors.append(f"{where}: unknown field {name!r}")
        else:
            errors += schema_errors(value, {"type": fields[name]}, f"{where}.{name}", False)
    return errors
