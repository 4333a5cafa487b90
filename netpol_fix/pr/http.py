"""JSON over HTTP with urllib: all `pr` needs from a forge is a handful of REST calls.

urllib keeps the dependency list as it is (PyGithub or python-gitlab would add a client,
requests and their pins for five calls, and follow the URLs the server returns, which a
test fake must then imitate). Errors carry the method, path, status and the server's own
message, scrubbed of the token, so a person can act on them. A redirect to another origin
(scheme, host, port) is followed without the credential headers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from netpol_fix import __version__
from netpol_fix.pr.errors import PrError, scrub

TIMEOUT = 30

CREDENTIAL_HEADERS = frozenset({"authorization", "private-token", "cookie",
                                "proxy-authorization"})


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but carry the token only to the origin it was meant for: urllib
    copies every header (Authorization included) to wherever a 301/302/307/308 points, so
    a forge answering with a redirect to another host would receive the token."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in list(new.headers):
                if name.lower() in CREDENTIAL_HEADERS:
                    del new.headers[name]
            for name in list(new.unredirected_hdrs):
                if name.lower() in CREDENTIAL_HEADERS:
                    del new.unredirected_hdrs[name]
        return new


_OPENER = urllib.request.build_opener(_SameOriginCredentials)


@dataclass
class HttpError(Exception):
    """A non-2xx answer: callers handle some (GitHub's 422 race), the rest become PrError."""

    method: str
    path: str
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: HTTP {self.status}: {self.message}"


def _server_message(raw: bytes) -> str:
    """The useful part of an error body: GitHub's message and errors, GitLab's message."""
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    parts = [str(data.get("message") or data.get("error") or "")]
    for err in data.get("errors") or []:
        parts.append(str(err.get("message", err)) if isinstance(err, dict) else str(err))
    return "; ".join(p for p in parts if p)[:500]


class JsonApi:
    """A base URL, auth headers, and request(): the transport the forge clients share."""

    def __init__(self, base_url: str, headers: dict[str, str], token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": f"netpol-fix/{__version__}",
                        "Content-Type": "application/json", **headers}
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer; HttpError for an HTTP error, PrError when unreachable."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        try:
            with _OPENER.open(req, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            message = scrub(_server_message(err.read()), [self.token])
            raise HttpError(method, path, err.code, message) from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise PrError(f"cannot reach {self.base_url}: {reason}", [self.token]) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise PrError(f"{method} {path}: the answer is not JSON", [self.token]) from None
