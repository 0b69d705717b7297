"""The private-address guard checks the address it connects to: one DNS answer, used for the connection.

A rebinding name answers a public address to the check and a loopback address to the connection; the
connection must go to the checked address. The same guard covers SFTP, and the operator's allow-list.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from apps.common.errors import ExternalSystemError
from apps.common.http import OutboundClient, vet_host


def _server(address: str, port: int, label: str, seen: list):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((label, self.headers.get("Host")))
            body = f'{{"server": "{label}"}}'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def two_servers():
    """An 'internal' server on 127.0.0.1 and a 'vetted' one on 127.0.0.2, on the same port."""
    seen: list = []
    internal = _server("127.0.0.1", 0, "internal", seen)
    port = internal.server_port
    vetted = _server("127.0.0.2", port, "vetted", seen)
    yield port, seen
    for server in (internal, vetted):
        server.shutdown()
        server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """``rebind.example`` resolves to ``first`` once, then to 127.0.0.1 for every later lookup."""
    real = socket.getaddrinfo
    answers = {"first": None, "calls": 0}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        answers["calls"] += 1
        address = answers["first"] if answers["calls"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_the_connection_goes_to_the_address_the_guard_checked(two_servers, rebinding_dns, settings):
    port, seen = two_servers
    settings.WEFT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]  # the operator's allow-list admits the first answer
    rebinding_dns["first"] = "127.0.0.2"
    client = OutboundClient(base_url=f"http://rebind.example:{port}", name="Vendor", timeout=5)

    assert client.json("GET", "/") == {"server": "vetted"}
    assert seen == [("vetted", f"rebind.example:{port}")]  # the Host header still names the host
    assert rebinding_dns["calls"] == 1


def test_a_rebinding_answer_never_reaches_loopback(two_servers, rebinding_dns):
    port, seen = two_servers
    rebinding_dns["first"] = "1.1.1.1"  # a public address for the check
    client = OutboundClient(base_url=f"http://rebind.example:{port}", name="Vendor", timeout=1,
                            sleep=lambda seconds: None)

    with pytest.raises(ExternalSystemError):
        client.json("GET", "/")
    assert seen == []  # before the fix, the second lookup sent the request to the internal server


def test_tls_keeps_the_host_name_for_sni_and_the_host_header():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = OutboundClient(base_url="https://api.vendor.example", name="Vendor",
                            transport=httpx.MockTransport(handler),
                            resolver=lambda host: [ipaddress.ip_address("93.184.216.34")])
    client.json("GET", "/v1/things")

    [request] = sent
    assert request.url.host == "93.184.216.34" and request.url.path == "/v1/things"
    assert request.headers["Host"] == "api.vendor.example"
    assert request.extensions["sni_hostname"] == "api.vendor.example"


def test_any_private_answer_among_several_is_refused():
    resolver = lambda host: [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]  # noqa: E731
    with pytest.raises(ExternalSystemError, match="10.0.0.5"):
        vet_host("mixed.example", name="Vendor", allow_private_network=False, resolver=resolver)


def test_the_operator_allow_list_admits_only_its_networks(settings):
    settings.WEFT_OUTBOUND_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert vet_host("10.20.3.4", name="ERP", allow_private_network=False) == [ipaddress.ip_address("10.20.3.4")]
    with pytest.raises(ExternalSystemError):
        vet_host("10.21.3.4", name="ERP", allow_private_network=False)
