"""A fault-injecting HTTP proxy in front of the real Tryton: it holds chosen requests back before passing them
on, so a request reaches Tryton (and is carried out) after the client stopped waiting for its answer, the way
a busy server's queue or a slow network does it; or it answers chosen requests with a server error itself.
Everything else passes through at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultProxy:
    """``url`` stands for ``upstream``; a request whose JSON-RPC method ``hold(method)`` accepts waits ``seconds``
    before it goes to Tryton (or, with ``drop``, is dropped: lost on the way). ``held`` lists the methods held so
    far; ``delivered`` those passed on after. ``fail(method)`` may name an HTTP status to answer with instead of
    passing the request on (``failed`` lists those methods)."""

    def __init__(self, upstream: str, *, hold: Callable[[str], bool] = lambda method: False, seconds: float = 0,
                 drop: bool = False, fail: Callable[[str], int | None] = lambda method: None):
        self.upstream, self.hold, self.seconds, self.drop = upstream.rstrip("/"), hold, seconds, drop
        self.fail = fail
        self.failed: list[str] = []
        self.held: list[str] = []
        self.delivered: list[str] = []
        self.dropped: list[str] = []
        self.arrivals: list[tuple[str, float]] = []  # (method, time.monotonic()) of every request, in order
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                method = json.loads(body or b"{}").get("method", "")
                proxy.arrivals.append((method, time.monotonic()))
                status = proxy.fail(method)
                if status:
                    proxy.failed.append(method)
                    text = b"Internal Server Error"
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                held = proxy.hold(method)
                if held:
                    proxy.held.append(method)
                    time.sleep(proxy.seconds)  # the client gives up meanwhile; the request still goes on
                    if proxy.drop:
                        proxy.dropped.append(method)
                        self.close_connection = True
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
                answer = httpx.post(proxy.upstream + self.path, content=body, headers=headers, timeout=60)
                if held:
                    proxy.delivered.append(method)
                try:
                    self.send_response(answer.status_code)
                    self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:
                    pass  # the client stopped waiting: its reply is lost, which is the point

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def settled(self, timeout: float = 30) -> list[str]:
        """``delivered`` once every held request has been passed on (or dropped)."""
        deadline = time.monotonic() + timeout
        while len(self.delivered) + len(self.dropped) < len(self.held) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.delivered

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
