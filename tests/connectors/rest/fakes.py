"""Small stateful fake vendors for the REST kind: records kept in memory, pages as the vendor pages them, writes
that land, 429s with Retry-After, expiring OAuth2 tokens and a write whose answer is lost on the way back.

Each fake is an ``httpx.MockTransport`` handler, so the kind's calls go through the real outbound client
(retries, Retry-After, redaction) and only the vendor is faked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx


@dataclass
class TokenEndpoint:
    """An OAuth2 token endpoint that issues short-lived access tokens and rotates refresh tokens."""

    lifetime: int = 1800
    clock: Callable[[], float] = None
    rotate: bool = True
    issued: int = 0
    refresh_token: str = "refresh-0"
    valid_access: set[str] = field(default_factory=set)
    expiry: dict[str, float] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    revoked: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append(form)
        self.auth_headers.append(request.headers.get("authorization", ""))
        grant = form.get("grant_type")
        if grant == "refresh_token" and (self.revoked or form.get("refresh_token") != self.refresh_token):
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "refresh token is invalid"})
        if grant == "authorization_code" and form.get("code") != "good-code":
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.issued += 1
        access = f"access-{self.issued}"
        self.valid_access.add(access)
        self.expiry[access] = self.clock() + self.lifetime
        answer = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}
        if grant != "client_credentials" and (self.rotate or self.issued == 1):
            self.refresh_token = f"refresh-{self.issued}"
            answer["refresh_token"] = self.refresh_token
        return httpx.Response(200, json=answer)

    def accepts(self, request: httpx.Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return token in self.valid_access and self.expiry[token] > self.clock()


def json_of(request: httpx.Request):
    return json.loads(request.content) if request.content else None


class Clock:
    """A clock tests move by hand (token expiry without waiting)."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
