"""GitLab merge requests over the v4 REST API (gitlab.com or self-managed via --api-url).

The project is addressed by its URL-encoded path (`group/sub/project`), so nested groups
work without looking up the numeric id. The open merge request of the branch is found with
`source_branch` and `state=opened`; a draft is a `Draft:` title prefix (the create call has
no draft parameter); labels are added with `add_labels` on update so labels a person set
stay. A racing create is answered 409 "Another open merge request already exists"; the
loser updates the winner's merge request.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from netpol_fix.pr.body import PullRequestText, fingerprint_of
from netpol_fix.pr.errors import PrError
from netpol_fix.pr.forge import Outcome
from netpol_fix.pr.http import HttpError, JsonApi

DEFAULT_API_URL = "https://gitlab.com/api/v4"
DRAFT_PREFIX = "Draft: "


def api_url_for(host: str | None) -> str:
    return DEFAULT_API_URL if host in (None, "gitlab.com") else f"https://{host}/api/v4"


def normalise_api_url(url: str) -> str:
    """Accept the instance URL or its API root: both mean `<instance>/api/v4`."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v4") else f"{url}/api/v4"


class GitLab:
    def __init__(self, api_url: str, project: str, token: str) -> None:
        if "/" not in project.strip("/"):
            raise PrError(f"--repository {project!r}: expected GROUP/PROJECT for GitLab")
        self.project = project.strip("/")
        self.api = JsonApi(normalise_api_url(api_url), {"PRIVATE-TOKEN": token}, token)
        self.token = token

    @property
    def _base(self) -> str:
        return f"/projects/{urllib.parse.quote(self.project, safe='')}/merge_requests"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              query: dict[str, str] | None = None) -> Any:
        try:
            return self.api.request(method, path, body, query)
        except HttpError as err:
            hint = " (is GITLAB_TOKEN valid, with the api scope?)" if err.status in (
                401, 403) else ""
            raise PrError(f"GitLab: {err}{hint}", [self.token]) from None

    def find_open(self, branch: str) -> dict[str, Any] | None:
        found = self._call("GET", self._base,
                           query={"source_branch": branch, "state": "opened"})
        return found[0] if isinstance(found, list) and found else None

    def publish(self, branch: str, base: str, text: PullRequestText,
                labels: tuple[str, ...], draft: bool) -> Outcome:
        head = DRAFT_PREFIX + text.title if draft else text.title
        existing = self.find_open(branch)
        if existing is None:
            body = {"source_branch": branch, "target_branch": base, "title": head,
                    "description": text.body, "labels": ",".join(labels),
                    "remove_source_branch": True}
            try:
                created = self.api.request("POST", self._base, body)
            except HttpError as err:
                if err.status != 409:
                    raise PrError(f"GitLab: {err}", [self.token]) from None
                existing = self.find_open(branch)
                if existing is None:
                    raise PrError(f"GitLab: {err}, but no open merge request for {branch} "
                                  "was found afterwards", [self.token]) from None
            else:
                return Outcome("created", created["iid"], created["web_url"])
        iid = existing["iid"]
        current = str(existing.get("title", ""))
        keeps_draft = current.startswith(DRAFT_PREFIX)
        wanted = DRAFT_PREFIX + text.title if keeps_draft or draft else text.title
        if current == wanted and fingerprint_of(existing.get("description")) == text.fingerprint:
            return Outcome("unchanged", iid, existing["web_url"])
        updated = self._call("PUT", f"{self._base}/{iid}",
                             {"title": wanted, "description": text.body,
                              "add_labels": ",".join(labels)})
        return Outcome("updated", iid, updated.get("web_url", existing["web_url"]))
