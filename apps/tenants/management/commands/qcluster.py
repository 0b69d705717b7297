"""``manage.py qcluster``: django-q2's cluster, stopping cleanly.

SIGTERM or Ctrl-C to the cluster's main process (``make run``, ``make stop``, systemd with ``KillMode=mixed``)
stops it taking work, lets the workers finish the task in hand, and tells long work to hand the rest back:
a run's slice ends after its current batch or page, saves its place and queues itself again, so the cluster
exits within seconds (docs/reliability.md) and the next cluster carries on where this one stopped.
"""

from __future__ import annotations

import os
import signal

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from apps.tenants.tasks import cluster_stop_request


class Command(DjangoQClusterCommand):
    help = "Starts the django-q2 cluster; SIGTERM or Ctrl-C stops it cleanly within seconds."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (signing needs it: fail before starting, as django-q2 does)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        stop = cluster.sig_handler

        def stop_cleanly(signum, frame):
            cluster_stop_request()  # seen by every worker: slices hand back the rest at their next safe point
            stop(signum, frame)

        signal.signal(signal.SIGTERM, stop_cleanly)
        signal.signal(signal.SIGINT, stop_cleanly)
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
