"""The one outbound HTTP client: retries what is safe, honours Retry-After, refuses private addresses,
says clearly what went wrong, and never logs secrets."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import OutboundClient, RetryPolicy


class Script:
    """A scripted vendor: answers requests in order and remembers what it was sent."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script, sleeps=None, **kwargs) -> OutboundClient:
    sleeps = sleeps if sleeps is not None else []
    return OutboundClient(base_url="https://api.vendor.example/v2", name="Vendor",
                          transport=httpx.MockTransport(script), allow_private_network=True, sleep=sleeps.append,
                          **kwargs)


def test_429_is_retried_after_the_time_the_vendor_asked_for():
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": True}))
    sleeps = []
    assert client(script, sleeps).json("GET", "/time_entries") == {"ok": True}
    assert len(script.requests) == 2 and sleeps[0] >= 7


def test_5xx_on_a_read_is_retried_with_backoff_then_reported():
    script = Script(*[httpx.Response(503, text="busy")] * 4)
    with pytest.raises(ExternalSystemError) as error:
        client(script, retry=RetryPolicy(max_attempts=4)).request("GET", "/clients")
    assert len(script.requests) == 4
    assert not error.value.permanent and error.value.status == 503 and "answered 503" in error.value.message


def test_a_post_without_idempotency_key_is_not_repeated_after_a_5xx():
    script = Script(httpx.Response(500, json={"message": "oops"}))
    with pytest.raises(ExternalSystemError, match="answered 500: oops"):
        client(script).request("POST", "/clients", json_body={"name": "Acme"})
    assert len(script.requests) == 1


def test_a_post_with_an_idempotency_key_is_safe_to_repeat():
    script = Script(httpx.Response(502), httpx.Response(201, json={"id": 1}))
    response = client(script).request("POST", "/Invoices", json_body={}, headers={"Idempotency-Key": "run-1-item-9"})
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["run-1-item-9"] * 2


def test_a_post_whose_answer_timed_out_is_in_doubt_and_not_repeated():
    script = Script(httpx.ReadTimeout("no answer"))
    with pytest.raises(ExternalSystemError) as error:
        client(script).request("POST", "/clients", json_body={"name": "Acme"})
    assert len(script.requests) == 1 and error.value.in_doubt and not error.value.permanent


def test_a_post_that_never_connected_is_not_in_doubt():
    script = Script(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(ExternalSystemError) as error:
        client(script).request("POST", "/clients", json_body={"name": "Acme"})
    assert len(script.requests) == 4 and not error.value.in_doubt


def test_refused_connections_are_retried():
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=[]))
    assert client(script).json("GET", "/users") == []


def test_a_very_long_retry_after_is_handed_back_instead_of_slept():
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(ExternalSystemError) as error:
        client(script).request("GET", "/Contacts")
    assert error.value.category == ErrorCategory.RATE_LIMIT and error.value.retry_after == 3600


@pytest.mark.parametrize(
    ("status", "category", "permanent"),
    [(401, ErrorCategory.AUTH, True), (404, ErrorCategory.NOT_FOUND, True), (422, ErrorCategory.VALIDATION, True)],
)
def test_client_errors_are_classified_and_not_retried(status, category, permanent):
    script = Script(httpx.Response(status, json={"message": "nope"}))
    with pytest.raises(ExternalSystemError) as error:
        client(script).request("GET", "/x")
    assert (error.value.category, error.value.permanent) == (category, permanent)
    assert len(script.requests) == 1


def test_an_html_error_page_instead_of_json_is_a_clear_parse_error():
    script = Script(httpx.Response(200, text="<html><body>Maintenance</body></html>",
                                   headers={"content-type": "text/html"}))
    with pytest.raises(ExternalSystemError, match="expected JSON but got text/html.*Maintenance") as error:
        client(script).json("GET", "/projects")
    assert error.value.category == ErrorCategory.PARSE


def test_malformed_json_is_a_clear_parse_error():
    script = Script(httpx.Response(200, text='{"projects": [', headers={"content-type": "application/json"}))
    with pytest.raises(ExternalSystemError, match="malformed JSON"):
        client(script).json("GET", "/projects")


def test_oversized_responses_are_refused():
    script = Script(httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(ExternalSystemError) as error:
        client(script, max_response_bytes=1000).request("GET", "/big")
    assert error.value.category == ErrorCategory.TOO_LARGE and error.value.permanent


def test_logs_never_carry_secrets(caplog):
    script = Script(httpx.Response(200, json={"access_token": "tok-SECRET", "name": "ok"}))
    vendor = client(script, headers={"Authorization": "Bearer SECRET-TOKEN"})
    with caplog.at_level(logging.INFO, logger="weft.http"):
        vendor.request("GET", "/me", params={"api_key": "SECRET-KEY"})
    record = caplog.records[-1]
    logged = record.getMessage() + json.dumps(record.request_headers) + record.response_body
    assert "SECRET" not in logged and "[redacted]" in logged


@pytest.fixture(scope="module")
def local_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"hello": "from loopback"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
                                 "http://localhost:9/", "http://[::1]:9/"])
def test_private_loopback_and_link_local_addresses_are_refused_by_default(url):
    guarded = OutboundClient(base_url=url, name="Vendor")
    with pytest.raises(ExternalSystemError, match="refusing to call") as error:
        guarded.request("GET", url)
    assert error.value.permanent and error.value.category == ErrorCategory.CONFIG


def test_a_connection_that_allows_private_addresses_reaches_them(local_server):
    allowed = OutboundClient(base_url=local_server, name="On-prem ERP", allow_private_network=True)
    assert allowed.json("GET", "/") == {"hello": "from loopback"}
