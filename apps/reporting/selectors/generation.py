"""A fingerprint of everything the figures read, for memos of figures over closed periods.

A closed month's figures change only when data about that month changes, and in Weft data changes through a
few doors, each of which leaves a mark read here in one statement of index-only look-ups: runs write the hub and
the ledger (the newest ledger item and run, and the latest run to finish: a run still going at a month's end
changes that month's run health when it ends); flows switched on or off (which flows count as posting); the
stored figures' refresh (``Snapshot``); exceptions opened,
triaged or resolved (their count and latest change); the reporting settings (go-live date, time basis, rates);
an invoice changed by a run is a ledger item too. A memo keyed by this fingerprint is never served after any
of them moves; what it costs is that a change anywhere recomputes every memo of the tenant, once.
"""

from __future__ import annotations

import hashlib

from apps.exceptions.models import IntegrationException
from apps.reporting.models import ReportingSettings, Snapshot
from apps.reporting.sql import T, fetch


def figures_generation() -> str:
    [row] = fetch(f"""
        SELECT (SELECT max(id) FROM {T['item']}) AS item, (SELECT max(id) FROM {T['run']}) AS run,
               (SELECT max(finished_at) FROM {T['run']}) AS finished,
               (SELECT max(updated_at) FROM {T['flow']}) AS flows,
               (SELECT max(id) FROM {T['time']}) AS time_entry,
               (SELECT max(refreshed_at) FROM {Snapshot._meta.db_table}) AS refreshed,
               (SELECT max(updated_at) FROM {ReportingSettings._meta.db_table}) AS settings,
               (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '')
                  FROM {IntegrationException._meta.db_table}) AS exceptions
    """)
    return hashlib.md5(repr(sorted(row.items())).encode(), usedforsecurity=False).hexdigest()
