"""Usage metering: records synced, runs and API calls per customer per month, exported for invoicing.

Counters are bumped with one ``INSERT ... ON CONFLICT DO UPDATE`` each, so concurrent workers and web
processes never lose a count and no row is read first. They are operational fields: no history.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.common.csvcells import csv_cell
from apps.tenants import access
from apps.tenants.models import Customer, Partner, UsageMonth

logger = logging.getLogger(__name__)
METERS = ("records_synced", "runs", "api_calls")
# API answers that are not the customer's use: refused callers, throttling, our own failures.
UNMETERED_STATUSES = {401, 403, 429}


def month_start(day: date | None = None) -> date:
    day = day or timezone.now().date()
    return day.replace(day=1)


def usage_record(*, schema_name: str, records_synced: int = 0, runs: int = 0, api_calls: int = 0,
                 day: date | None = None) -> None:
    """Add to the month's counters of the customer whose schema is ``schema_name``."""
    if not (records_synced or runs or api_calls):
        return
    table, customers, plan_of = UsageMonth._meta.db_table, Customer._meta.db_table, "plan_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO public.{table} (customer_id, month, plan_id, records_synced, runs, api_calls, updated_at)
                SELECT c.id, %s, c.{plan_of}, %s, %s, %s, now() FROM public.{customers} c WHERE c.schema_name = %s
                ON CONFLICT (customer_id, month) DO UPDATE SET
                  records_synced = {table}.records_synced + EXCLUDED.records_synced,
                  runs = {table}.runs + EXCLUDED.runs, api_calls = {table}.api_calls + EXCLUDED.api_calls,
                  updated_at = now()""",
            [month_start(day), records_synced, runs, api_calls, schema_name],
        )


class _CallTally:
    """API calls counted in memory and added to the month's counters at most once a second per process.

    For the webhook intake: one counter row per customer and month, bumped once a request, would make every
    delivery of a customer wait for the previous one's commit (a row lock held through the WAL flush). The price:
    a process killed outright loses up to a second of its calls from the bill (in the customer's favour).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.flushed = time.monotonic()

    def add(self, schema_name: str) -> None:
        with self.lock:
            self.counts[schema_name] += 1
            if time.monotonic() - self.flushed < settings.WEFT_USAGE_TALLY_SECONDS:
                return
        self.flush()

    def flush(self) -> None:
        with self.lock:
            counts, self.counts, self.flushed = self.counts, Counter(), time.monotonic()
        try:
            for schema_name in list(counts):
                usage_record(schema_name=schema_name, api_calls=counts[schema_name])
                del counts[schema_name]
        except Exception:  # noqa: BLE001 - counted again with the next flush; the request that flushed is not failed
            with self.lock:
                self.counts.update(counts)
            logger.warning("usage: tallied API calls not written yet", exc_info=True)


_TALLY = _CallTally()


def usage_api_call_tally(*, schema_name: str) -> None:
    """Count one API call of the customer in ``schema_name``, written with others within a second."""
    _TALLY.add(schema_name)


def _flush_at_exit() -> None:
    with contextlib.suppress(Exception):  # the database (or logging) may be gone at exit: those counts are lost
        _TALLY.flush()


atexit.register(_flush_at_exit)


def usage_plan_note(*, customer: Customer) -> None:
    """The customer's plan changed: this month's usage is billed on the new plan."""
    UsageMonth.objects.filter(customer=customer, month=month_start()).update(plan=customer.plan)  # operational


@dataclass(frozen=True)
class UsageLine:
    """One customer's month, with what the plan includes and what goes beyond it."""

    customer: Customer
    usage: UsageMonth | None

    def used(self, meter: str) -> int:
        return getattr(self.usage, meter) if self.usage else 0

    @property
    def plan(self):
        return self.usage.plan if self.usage and self.usage.plan_id else self.customer.plan

    def included(self, meter: str) -> int | None:
        return getattr(self.plan, f"included_{meter.removesuffix('_synced')}", None) if self.plan else None

    def overage(self, meter: str) -> int:
        included = self.included(meter)
        return 0 if included is None else max(0, self.used(meter) - included)


def usage_lines(partner: Partner, month: date) -> list[UsageLine]:
    """Every customer of ``partner`` with its usage in ``month`` (zero when it used nothing): two queries."""
    customers = list(Customer.objects.firms().filter(partner=partner).select_related("plan").order_by("name"))
    rows = UsageMonth.objects.filter(customer__in=customers, month=month_start(month)).select_related("plan")
    by_customer = {row.customer_id: row for row in rows}
    return [UsageLine(customer=c, usage=by_customer.get(c.pk)) for c in customers]


def usage_history(customer: Customer, months: int = 12) -> list[UsageMonth]:
    return list(UsageMonth.objects.filter(customer=customer).select_related("plan").order_by("-month")[:months])


CSV_HEADER = ["month", "customer", "customer_slug", "plan", "monthly_price", "currency", "records_synced",
              "records_included", "records_over", "runs", "runs_included", "runs_over", "api_calls",
              "api_calls_included", "api_calls_over"]


def usage_csv(partner: Partner, month: date) -> str:
    """The month's usage of every customer as CSV for the partner's own invoicing (blank included: unlimited)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for line in usage_lines(partner, month):
        plan = line.plan
        row = [f"{month:%Y-%m}", csv_cell(line.customer.name), line.customer.slug, csv_cell(plan.name) if plan else "",
               plan.monthly_price if plan else "", plan.currency if plan else ""]
        for meter in METERS:
            included = line.included(meter)
            row += [line.used(meter), "" if included is None else included, line.overage(meter)]
        writer.writerow(row)
    return out.getvalue()


# The API's description (its OpenAPI document and docs page) is no call on the customer's data.
UNMETERED_PATHS = ("/api/v1/schema/", "/api/docs/")


class UsageMeterMiddleware:
    """Counts API calls on customer domains (``/api/``) into the month's usage; place after the host middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        tenant = getattr(request, "tenant", None)
        if request.path.startswith("/api/") and not request.path.startswith(UNMETERED_PATHS) and (
                tenant is not None and tenant.kind == "firm" and _billable(request, response, tenant)):
            usage_record(schema_name=tenant.schema_name, api_calls=1)
        return response


def _billable(request, response, tenant) -> bool:
    """A call the customer pays for: answered, or refused to someone who may use its API. Refusals to
    strangers (another partner's staff, anonymous guessers) never reach the customer's bill."""
    status = response.status_code
    if status >= 500 or status in UNMETERED_STATUSES:
        return False
    return status < 400 or access.can(getattr(request, "user", None), "customer.view", customer=tenant)
