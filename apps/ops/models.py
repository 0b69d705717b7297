from django.db import models


class ClusterHeartbeat(models.Model):
    """The last time a django-q2 cluster on ``host`` ran the heartbeat task (scheduled every minute).

    It proves the whole path works: the scheduler queued it, the broker delivered it and a worker ran it.
    ``/readyz`` reads the newest one; ``/metrics`` reports each host's age."""

    host = models.CharField(max_length=255, unique=True)
    beat_at = models.DateTimeField()
    pid = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.host} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
