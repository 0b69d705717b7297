"""A scripted vendor for connector-kind tests: answers in order, every request checked against the vendor spec.

``vendor(spec_name, *answers)`` uses tests.vendor_mocks' spec-checked transport, which also holds scripted
successes to the spec. Tests that feed a kind deliberately broken data (a vendor bug: ``hours: "abc"``) pass
``broken_responses=True``: requests are still checked, the broken answer is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from apps.common.http import OutboundClient
from apps.connectors.kinds.base import ConnectorKind, KindContext
from tests.vendor_mocks.openapi import SpecCheckedTransport, request_errors, spec_checked_transport

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests in the order given; running out of answers is a test failure that names the request."""

    def __init__(self, answers: tuple[Answer, ...]):
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert self.answers, f"unexpected request {request.method} {request.url}"
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer


class RequestCheckedTransport(httpx.MockTransport):
    """Like SpecCheckedTransport, but only requests are held to the spec (for deliberately broken answers)."""

    def __init__(self, spec_name: str, handler):
        self.spec_name, self.requests, self.violations = spec_name, [], []
        self._handler = handler
        super().__init__(self._checked)

    def _checked(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        errors = request_errors(self.spec_name, request)
        if errors:
            self.violations.append(f"{request.method} {request.url}: " + "\n".join(errors))
            raise AssertionError(self.violations[-1])
        return self._handler(request)

    def assert_clean(self) -> None:
        assert not self.violations, "\n\n".join(self.violations)


def vendor(spec_name: str, *answers: Answer, broken_responses: bool = False) -> SpecCheckedTransport:
    script = Script(answers)
    if broken_responses:
        return RequestCheckedTransport(spec_name, script)
    return spec_checked_transport(spec_name, script)


def kind_with(kind_class: type[ConnectorKind], transport: httpx.BaseTransport, *, settings: dict,
              credentials: dict, sleeps: list | None = None) -> ConnectorKind:
    """A kind instance whose HTTP goes to ``transport`` through the real OutboundClient (retries, parsing)."""
    sleeps = sleeps if sleeps is not None else []

    def http_factory(base_url: str, headers: dict) -> OutboundClient:
        return OutboundClient(base_url=base_url, name=f"Test {kind_class.label}", headers=headers,
                              transport=transport, sleep=sleeps.append, allow_private_network=True)

    context = KindContext(connection_id=None, connection_name=f"Test {kind_class.label}", settings=settings,
                          credentials=credentials, http_factory=http_factory, files_root=Path("/nonexistent"))
    return kind_class(context)


def json_body(request: httpx.Request) -> dict:
    return json.loads(request.content)
