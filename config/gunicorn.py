"""gunicorn's configuration for every Weft web process: `make run`, the Procfile, systemd and the tests.

    gunicorn -c config/gunicorn.py config.wsgi

Threads, not more processes: a request mostly waits on PostgreSQL, and threads share one connection pool per
process, so ``WEFT_WEB_WORKERS`` × ``WEFT_WEB_THREADS`` bounds the connections a web host opens (the pool's
size is the thread count). Read here rather than in Django's settings because gunicorn reads it before
Django loads; docs/deploy.md lists these variables with the rest.
"""

import os

bind = os.environ.get("WEFT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEFT_WEB_WORKERS", "2"))
threads = int(os.environ.get("WEFT_WEB_THREADS", "8"))
worker_class = "gthread"
# Each worker process pools at most `threads` connections: one per request in flight, never more.
os.environ.setdefault("WEFT_DB_POOL_SIZE", str(threads))
timeout = int(os.environ.get("WEFT_WEB_TIMEOUT", "30"))
graceful_timeout = 10  # SIGTERM (deploys, Ctrl-C): requests in flight get this long to finish
keepalive = 5  # seconds an idle keep-alive connection from the proxy is kept
# A worker is replaced after this many requests (with jitter, so they do not all restart at once): the memory
# a connection gathers visiting many tenants' schemas is given back.
max_requests = int(os.environ.get("WEFT_WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("WEFT_ACCESS_LOG") or None  # "-" for stdout; the proxy usually logs requests
forwarded_allow_ips = os.environ.get("WEFT_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "weft-web"
# gunicorn's control socket lives in the user's home, so two Weft servers on one machine (worktrees, the tests)
# would fight over it; Weft is managed by signals (TERM, HUP) instead.
control_socket_disable = True


def child_exit(server, worker):
    """A worker that ended leaves its metric files; mark them dead so gauges of live processes only remain."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
