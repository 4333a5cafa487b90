"""Stateful fakes of the GitHub and GitLab APIs on pytest-httpserver.

They keep pull requests in memory, answer with URLs under their own address (as a real
server answers with its own), record every request, and reproduce the errors `pr` must
handle: GitHub's 422 "A pull request already exists" and GitLab's 409 when an open request
exists for the branch. `hide_next_find` makes the next lookup miss an existing request, as
when another bot creates it between our lookup and our create.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


@dataclass
class FakeForge:
    base_url: str
    prefix: str = ""
    token: str = ""
    requests: list[Recorded] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    hide_next_find: bool = False
    fail_with: tuple[int, str] | None = None

    def record(self, request: Request) -> Recorded | Response:
        path = request.environ["RAW_URI"].split("?", 1)[0]  # as sent, not decoded
        if not path.startswith(self.prefix):
            return _json({"message": "Not Found"}, 404)
        body = json.loads(request.get_data(as_text=True)) if request.get_data() else None
        rec = Recorded(request.method, path[len(self.prefix):], dict(request.args), body,
                       dict(request.headers))
        self.requests.append(rec)
        if self.fail_with is not None:
            return _json({"message": self.fail_with[1]}, self.fail_with[0])
        return rec

    def _find(self, **match: Any) -> list[dict[str, Any]]:
        if self.hide_next_find:
            self.hide_next_find = False
            return []
        return [p for p in self.pulls if all(p.get(k) == v for k, v in match.items())]


class FakeGitHub(FakeForge):
    """`/repos/{owner}/{repo}/pulls...` and `/issues/{n}/labels` of one repository."""

    def handle(self, request: Request) -> Response:
        rec = self.record(request)
        if isinstance(rec, Response):
            return rec
        if rec.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"message": "Bad credentials"}, 401)
        parts = rec.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos":
            return _json({"message": "Not Found"}, 404)
        owner, repo, rest = parts[1], parts[2], parts[3:]
        if rest == ["pulls"] and rec.method == "GET":
            head = rec.query.get("head", "")
            branch = head.split(":", 1)[1] if ":" in head else head
            return _json(self._find(head_ref=branch, state=rec.query.get("state", "open")))
        if rest == ["pulls"] and rec.method == "POST":
            branch = rec.body["head"]
            if any(p["head_ref"] == branch and p["state"] == "open" for p in self.pulls):
                return _json({"message": "Validation Failed", "errors": [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {owner}:{branch}."}]}, 422)
            return _json(self.add(owner, repo, branch, rec.body), 201)
        if len(rest) == 2 and rest[0] == "pulls" and rec.method == "PATCH":
            pull = self.pulls[int(rest[1]) - 1]
            pull.update({k: v for k, v in rec.body.items() if k in ("title", "body")})
            return _json(pull)
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "labels":
            pull = self.pulls[int(rest[1]) - 1]
            for name in rec.body["labels"]:
                if name not in [label["name"] for label in pull["labels"]]:
                    pull["labels"].append({"name": name})
            return _json(pull["labels"])
        return _json({"message": "Not Found"}, 404)

    def add(self, owner: str, repo: str, branch: str, body: dict[str, Any]) -> dict[str, Any]:
        number = len(self.pulls) + 1
        pull = {"number": number, "state": "open", "title": body.get("title"),
                "body": body.get("body"), "head_ref": branch, "base_ref": body.get("base"),
                "draft": body.get("draft", False), "labels": [],
                "url": f"{self.base_url}{self.prefix}/repos/{owner}/{repo}/pulls/{number}",
                "html_url": f"{self.base_url}/{owner}/{repo}/pull/{number}"}
        self.pulls.append(pull)
        return pull


class FakeGitLab(FakeForge):
    """`/projects/{id}/merge_requests` of one project (addressed by its encoded path)."""

    def handle(self, request: Request) -> Response:
        rec = self.record(request)
        if isinstance(rec, Response):
            return rec
        if rec.headers.get("Private-Token") != self.token:
            return _json({"message": "401 Unauthorized"}, 401)
        # The project path is one URL-encoded segment (group%2Fproject), as GitLab routes it.
        parts = rec.path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "projects" or parts[2] != "merge_requests":
            return _json({"message": "404 Not found"}, 404)
        project = unquote(parts[1])
        if len(parts) == 3 and rec.method == "GET":
            return _json(self._find(source_branch=rec.query.get("source_branch"),
                                    state=rec.query.get("state")))
        if len(parts) == 3 and rec.method == "POST":
            branch = rec.body["source_branch"]
            if any(p["source_branch"] == branch and p["state"] == "opened"
                   for p in self.pulls):
                return _json({"message": [("Another open merge request already exists for "
                                          "this source branch: !1")]}, 409)
            iid = len(self.pulls) + 1
            mr = {"iid": iid, "state": "opened", "title": rec.body["title"],
                  "description": rec.body.get("description"), "source_branch": branch,
                  "target_branch": rec.body["target_branch"],
                  "labels": [x for x in rec.body.get("labels", "").split(",") if x],
                  "web_url": f"{self.base_url}/{project}/-/merge_requests/{iid}"}
            self.pulls.append(mr)
            return _json(mr, 201)
        if len(parts) == 4 and rec.method == "PUT":
            mr = self.pulls[int(parts[3]) - 1]
            mr.update({k: v for k, v in rec.body.items() if k in ("title", "description")})
            for name in rec.body.get("add_labels", "").split(","):
                if name and name not in mr["labels"]:
                    mr["labels"].append(name)
            return _json(mr)
        return _json({"message": "404 Not found"}, 404)
