"""What open exceptions put at risk, each source record counted once, in every currency.

Each exception keeps its own records' amounts; a record can sit in several exceptions at once (an entry
failing on its way to two targets, and the reconciliation gap its absence leaves), so the figure is
computed over the records, not by adding up exceptions. Reports narrow it by their filters
(``apps.reporting.selectors.money_at_risk``); an escalation digest narrows it to the exceptions it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from apps.canonical.models import Project, TimeEntry
from apps.exceptions.models import ExceptionRecord, IntegrationException

ZERO = Decimal("0")


@dataclass(frozen=True)
class AtRisk:
    """``amounts``: currency → money at risk (every currency with some; ``""`` where a record's currency is unknown);
    ``hours``: hours at risk; ``records``: the source records counted."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    hours: Decimal = ZERO
    records: int = 0

    def largest(self) -> tuple[str, Decimal]:
        """The currency with the most at risk, and its amount (``("", 0)`` when nothing is)."""
        return max(self.amounts.items(), key=lambda kv: kv[1], default=("", ZERO))


def records_at_risk(clauses: list[str], params: list[Any]) -> AtRisk:
    """Open records of the exceptions ``clauses`` select, each source record once (one query).

    - A record the hub holds (object type and canonical id) counts once, whichever exceptions and flows name
      it; a record that never reached the hub counts once per flow (or connection) and source key. Its
      amount is the one its latest failure was priced at (``apps.exceptions.context``: billable hours × the
      entry's own rate, else the project's).
    - A reconciliation gap (a project-week a target lacks or holds differently) counts only what it exceeds
      the hub's time entries of that project and week already at risk (same currency), never below 0:
      entries that failed on their way to the target are why the target lacks them. Rows refused at the door
      never reached the hub, so they are no part of any gap and are not netted.

    ``clauses`` select the exceptions (alias ``x``), joined with AND; at least one is needed.
    """
    sql = _SQL.format(records=ExceptionRecord._meta.db_table, exceptions=IntegrationException._meta.db_table,
                      time=TimeEntry._meta.db_table, project=Project._meta.db_table, scope=" AND ".join(clauses))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()  # currency, amount, hours, records
    amounts = {currency: amount for currency, amount, _, _ in rows if amount}
    return AtRisk(amounts=dict(sorted(amounts.items())), hours=sum((r[2] for r in rows), ZERO),
                  records=sum(r[3] for r in rows))


def exceptions_at_risk(exceptions) -> AtRisk:
    """What the given exceptions' open records put at risk, a record in two of them counted once."""
    return records_at_risk(["x.id = ANY(%s)"], [[e.pk for e in exceptions]])


_SQL = r"""
    WITH open AS (
        SELECT r.id, r.amount, r.currency, r.hours, r.last_seen, r.object_type, x.kind, te.id IS NOT NULL AS in_hub,
               coalesce(p.code, r.context->>'project') AS project,
               coalesce(te.date, CASE WHEN r.context->>'date' ~ '^\d{{4}}-\d{{2}}-\d{{2}}$'
                                      THEN (r.context->>'date')::date END) AS day,
               CASE WHEN r.context->>'week' ~ '^\d{{4}}-\d{{2}}-\d{{2}}$' THEN (r.context->>'week')::date END AS week,
               CASE WHEN x.kind = 'reconciliation' THEN 'gap:' || coalesce(x.flow_id::text, '') || ':' || r.record_key
                    WHEN r.canonical_id IS NOT NULL AND r.object_type <> '' THEN r.object_type || ':' || r.canonical_id
                    ELSE 'key:' || coalesce(x.flow_id::text, '') || ':' || coalesce(x.connection_id::text, '') || ':'
                         || x.object_type || ':' || r.record_key
               END AS source
        FROM {records} r JOIN {exceptions} x ON x.id = r.exception_id
             LEFT JOIN {time} te ON r.object_type = 'time_entry' AND te.id = r.canonical_id
             LEFT JOIN {project} p ON p.id = te.project_id
        WHERE r.is_open AND {scope}
    ), once AS (
        SELECT DISTINCT ON (source) * FROM open ORDER BY source, last_seen DESC, id DESC
    ), entries AS (
        SELECT * FROM once WHERE kind <> 'reconciliation'
    ), counted AS (
        SELECT currency, amount, hours FROM entries
        UNION ALL
        SELECT g.currency,
               greatest(g.amount - coalesce((SELECT sum(e.amount) FROM entries e WHERE e.in_hub
                   AND e.project = g.project AND e.currency = g.currency
                   AND date_trunc('week', e.day)::date = g.week), 0), 0),
               greatest(g.hours - coalesce((SELECT sum(e.hours) FROM entries e WHERE e.in_hub
                   AND e.project = g.project AND date_trunc('week', e.day)::date = g.week), 0), 0)
        FROM once g WHERE g.kind = 'reconciliation'
    )
    SELECT currency, sum(amount) AS amount, coalesce(sum(hours), 0) AS hours, count(*) AS records
    FROM counted GROUP BY currency
"""
