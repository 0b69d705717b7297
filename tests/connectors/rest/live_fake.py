"""A vendor Weft has never seen, served over real HTTP on 127.0.0.1: "Acme Resourcing", with its OpenAPI document,
an API key, page-numbered lists of consultants and clients, and an OAuth2 token endpoint. The browser test and the
workbench tests connect to it the way a partner would connect to a new vendor."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_KEY = "acme-live-key"
CONSULTANTS = [{"id": 100 + i, "displayName": f"Consultant {i}", "email": f"c{i}@acme-resourcing.example",
                "active": True, "updated_at": f"2026-03-{1 + i % 28:02d}T09:00:00Z"} for i in range(1, 26)]
CLIENTS = [{"id": 500 + i, "name": f"Client {i}", "code": f"AR-{i:03d}", "currency": "EUR"} for i in range(1, 8)]


def openapi_document(base_url: str) -> dict:
    """The vendor's published OpenAPI 3.1 document."""
    person = {"type": "object", "properties": {"id": {"type": "integer"}, "displayName": {"type": "string"},
                                                "email": {"type": "string"}, "active": {"type": "boolean"},
                                                "updated_at": {"type": "string", "format": "date-time"}}}
    client = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                "code": {"type": "string"}, "currency": {"type": "string"}}}

    def listing(schema_ref: str, key: str, summary: str) -> dict:
        return {"get": {"summary": summary, "parameters": [
            {"name": "page", "in": "query", "schema": {"type": "integer"}},
            {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
            {"name": "updated_since", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                "type": "object", "properties": {key: {"type": "array", "items": {"$ref": schema_ref}},
                                                 "total_pages": {"type": "integer"}}}}}}}}}

    return {"openapi": "3.1.0", "info": {"title": "Acme Resourcing", "version": "2.0"},
            "servers": [{"url": base_url}],
            "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Acme-Key"}},
                           "schemas": {"Consultant": person, "Client": client}},
            "security": [{"key": []}],
            "paths": {"/consultants": listing("#/components/schemas/Consultant", "consultants", "List consultants"),
                      "/clients": listing("#/components/schemas/Client", "clients", "List clients")}}


class _Handler(BaseHTTPRequestHandler):
    server_version = "AcmeResourcing/2.0"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/openapi.json":
            return self._json(200, openapi_document(self.server.base_url))
        if self.headers.get("X-Acme-Key") != API_KEY:
            return self._json(401, {"message": "Missing or wrong X-Acme-Key"})
        rows = {"/consultants": CONSULTANTS, "/clients": CLIENTS}.get(url.path)
        if rows is None:
            return self._json(404, {"message": "no such path"})
        if "updated_since" in params:
            rows = [r for r in rows if r.get("updated_at", "") >= params["updated_since"]]
        size, page = int(params.get("per_page", 10)), int(params.get("page", 1))
        key = url.path.strip("/")
        return self._json(200, {key: rows[(page - 1) * size: page * size], "total_pages": -(-len(rows) // size)})

    def do_POST(self):
        if urlsplit(self.path).path != "/oauth/token":
            return self._json(404, {"message": "no such path"})
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        self.server.token_requests.append(form)
        if form.get("code") != "good-code":
            return self._json(400, {"error": "invalid_grant"})
        return self._json(200, {"access_token": "live-access", "refresh_token": "live-refresh", "expires_in": 1800,
                                "token_type": "Bearer"})

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def acme_resourcing():
    """Serve the fake vendor on a free port for the length of the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    server.token_requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
