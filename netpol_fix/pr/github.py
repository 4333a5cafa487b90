"""GitHub pull requests over the REST API (github.com or GitHub Enterprise via --api-url).

Five calls: find the open pull request of the branch (`GET /pulls?head=owner:branch`),
create it, update its title and body, add labels (issues API: a pull request is an issue).
Two bots racing on one branch make the second create fail with 422 "A pull request already
exists"; the loser finds the winner's pull request and updates it instead.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from netpol_fix.pr.body import PullRequestText, fingerprint_of
from netpol_fix.pr.errors import PrError
from netpol_fix.pr.forge import Outcome
from netpol_fix.pr.http import HttpError, JsonApi

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"


def api_url_for(host: str | None) -> str:
    """The API of the remote's host: github.com's, GHE.com's (`api.` prefix) or a GitHub
    Enterprise Server's (`/api/v3`), so --api-url is rarely needed."""
    if host is None or host in ("github.com", "www.github.com"):
        return DEFAULT_API_URL
    if host.endswith(".ghe.com"):
        return f"https://api.{host}"
    return f"https://{host}/api/v3"


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str) -> None:
        owner, sep, name = repository.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise PrError(f"--repository {repository!r}: expected OWNER/NAME for GitHub")
        self.owner, self.name = owner, name
        self.api = JsonApi(api_url, {"Authorization": f"Bearer {token}",
                                     "Accept": "application/vnd.github+json",
                                     "X-GitHub-Api-Version": API_VERSION}, token)
        self.token = token

    @property
    def _repo(self) -> str:
        return f"/repos/{urllib.parse.quote(self.owner)}/{urllib.parse.quote(self.name)}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              query: dict[str, str] | None = None) -> Any:
        try:
            return self.api.request(method, path, body, query)
        except HttpError as err:
            raise PrError(f"GitHub: {err}{_hint(err.status)}", [self.token]) from None

    def find_open(self, branch: str) -> dict[str, Any] | None:
        found = self._call("GET", f"{self._repo}/pulls",
                           query={"head": f"{self.owner}:{branch}", "state": "open"})
        return found[0] if isinstance(found, list) and found else None

    def create(self, branch: str, base: str, text: PullRequestText,
               draft: bool) -> dict[str, Any]:
        """Create the pull request; HttpError 422 is left to the caller (the race)."""
        body = {"title": text.title, "head": branch, "base": base, "body": text.body,
                "draft": draft, "maintainer_can_modify": True}
        result: dict[str, Any] = self.api.request("POST", f"{self._repo}/pulls", body)
        return result

    def update(self, number: int, text: PullRequestText) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"{self._repo}/pulls/{number}",
                                            {"title": text.title, "body": text.body})
        return result

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        self._call("POST", f"{self._repo}/issues/{number}/labels", {"labels": list(labels)})

    def publish(self, branch: str, base: str, text: PullRequestText,
                labels: tuple[str, ...], draft: bool) -> Outcome:
        existing = self.find_open(branch)
        if existing is None:
            try:
                created = self.create(branch, base, text, draft)
            except HttpError as err:
                if err.status != 422 or "already exists" not in err.message:
                    raise PrError(f"GitHub: {err}{_hint(err.status)}", [self.token]) from None
                existing = self.find_open(branch)
                if existing is None:
                    raise PrError(f"GitHub: {err}, but no open pull request for {branch} "
                                  "was found afterwards", [self.token]) from None
            else:
                self.add_labels(created["number"], labels)
                return Outcome("created", created["number"], created["html_url"])
        number = existing["number"]
        if (existing.get("title") == text.title
                and fingerprint_of(existing.get("body")) == text.fingerprint):
            return Outcome("unchanged", number, existing["html_url"])
        updated = self.update(number, text)
        self.add_labels(number, labels)
        return Outcome("updated", number, updated.get("html_url", existing["html_url"]))


def _hint(status: int) -> str:
    if status == 401:
        return " (is GITHUB_TOKEN valid?)"
    if status in (403, 404):
        return (" (does the token have pull-requests: write and contents: write on this "
                "repository, and is --repository right?)")
    return ""
