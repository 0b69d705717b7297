"""Parquet snapshots of a customer's reporting views (apart from ``services``: pyarrow is loaded only by the
worker that writes them and by ``manage.py bi_access``)."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.bi.models import ReportingAccess
from apps.bi.parquet import views_to_parquet
from apps.bi.views import VIEWS

logger = logging.getLogger(__name__)


def snapshot_root(record: ReportingAccess) -> Path:
    if record.snapshot_folder:
        return Path(record.snapshot_folder)
    return Path(settings.WEFT_DATA_DIR) / "bi" / record.customer.schema_name


def bi_snapshot_write(record: ReportingAccess) -> Path:
    """Write every reporting view as ``<root>/<YYYY-MM-DD>/<view>.parquet``; the day's folder appears whole."""
    day = timezone.localdate().isoformat()
    folder = views_to_parquet(schema=record.schema_name, views=[v.name for v in VIEWS],
                              root=snapshot_root(record), name=day)
    record.last_snapshot_at = timezone.now()
    record.save(update_fields=["last_snapshot_at"])
    return folder


def bi_snapshots_write() -> int:
    """The nightly task: a snapshot for every customer that asked for one. One failure does not stop the rest."""
    written = 0
    for record in ReportingAccess.objects.filter(snapshot_enabled=True).select_related("customer"):
        try:
            bi_snapshot_write(record)
        except OSError:
            # A full disk or a missing share: said in the worker's log, tried again tomorrow; the others go on.
            logger.exception("BI snapshot for %s failed", record.customer.slug)
            continue
        written += 1
    return written
