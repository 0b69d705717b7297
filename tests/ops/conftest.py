import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django_q.conf import Conf

from apps.tenants.models import Customer
from tests.e2e.live import committed


@pytest.fixture
def live(django_db_setup, django_db_blocker, monkeypatch):
    """Committed writes that server and cluster processes can see, in alpha and beta; removed afterwards."""
    monkeypatch.setattr(Conf, "SYNC", False)  # this process queues; cluster processes run
    with django_db_blocker.unblock(), committed(["alpha", "beta"]):
        yield {c.schema_name: c for c in Customer.objects.filter(schema_name__in=["alpha", "beta"])}


@pytest.fixture(autouse=True)
def _django_db_marker(request) -> None:
    """As in tests/e2e: tests marked ``cluster`` commit (other processes must see their rows), so their
    ``django_db`` marker only makes sure the test database exists; the others get pytest-django's transaction."""
    if request.node.get_closest_marker("cluster"):
        return
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")


@pytest.fixture
def redis_socket():
    """A Redis of the test's own on a Unix socket (reachable from the hosts' empty network namespaces)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="weft-redis-"))
    socket_path = folder / "redis.sock"
    server = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
                               "--save", "", "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"unix://{socket_path}?db=0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
