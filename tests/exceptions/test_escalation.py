"""Escalation with a controllable clock: rules raise severity and reassign, one digest per recipient per tick,
no repeats until an exception reopens, quiet hours, partner defaults and partner-branded mail; a failing
channel is retried and never loses the exception."""

import re
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from smtplib import SMTPException
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from apps.exceptions import notify, services
from apps.exceptions.choices import Kind, NotificationStatus, Severity, Source, Status
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.exceptions.escalation import escalation_tick
from apps.exceptions.models import EscalationPolicy, IntegrationException, Notification
from apps.exceptions.notify import notifications_deliver
from apps.exceptions.services import RecordAtRisk, exception_raise
from apps.tenants.choices import Role
from tests.conftest import member
from tests.runs.journal import drop, run_flow

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("UTC"))
RULES = [
    {"name": "money", "min_amount": "1000", "raise_to": "high"},
    {"name": "old", "min_age_minutes": 60, "raise_to": "critical", "assign_to": "eng"},
]


def mismatch(project: str, amount: str, now=T0) -> IntegrationException:
    return exception_raise(kind=Kind.RECONCILIATION, source=Source.RECONCILIATION, scope=f"recon:{project}",
                           message=f"{project}: time system and ERP differ for week 45", now=now,
                           records=[RecordAtRisk(key=f"{project}:2026-W45", context={"project": project},
                                                 amount=Decimal(amount), currency="EUR")])


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")


@pytest.fixture
def policy(in_alpha, engineer):
    return EscalationPolicy.objects.create(name="Alpha", rules=RULES, email_recipients=["ops@alpha.example"],
                                           notify_owner=True, webhook_url="https://hooks.example.test/weft",
                                           webhook_allow_private_network=True)


@pytest.fixture
def hooks(monkeypatch):
    received = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    monkeypatch.setattr(notify, "webhook_transport", httpx.MockTransport(answer))
    return received


def test_rules_fire_once_per_cycle_and_each_tick_sends_one_digest_per_recipient(policy, engineer, hooks):
    big, bigger, small = mismatch("ACME-042", "1500"), mismatch("ACME-043", "2500"), mismatch("ACME-044", "10")

    first = escalation_tick(now=T0)
    notifications_deliver(now=T0)

    assert {f.exception.pk for f in first} == {big.pk, bigger.pk}
    assert [m.to for m in mail.outbox] == [["ops@alpha.example"]]
    assert "2 integration exceptions" in mail.outbox[0].subject
    assert {IntegrationException.objects.get(pk=e.pk).severity for e in (big, bigger)} == {Severity.HIGH}
    [post] = hooks
    body = httpx.Response(200, content=post.content).json()
    assert body["customer"]["slug"] == "alpha" and body["count"] == 2 and body["amounts_at_risk"] == {"EUR": "4000.00"}
    assert body["link"].endswith("/admin/exceptions/integrationexception/")

    assert escalation_tick(now=T0 + timedelta(minutes=1)) == []  # nothing new: no repeat

    later = escalation_tick(now=T0 + timedelta(minutes=61))
    notifications_deliver(now=T0 + timedelta(minutes=61))
    assert len(later) == 3
    small.refresh_from_db()
    assert (small.severity, small.owner) == (Severity.CRITICAL, engineer)
    assert small.history.latest("history_date").history_change_reason == "Assigned to eng"
    recipients = sorted(m.to[0] for m in mail.outbox[1:])
    assert recipients == ["eng@example.com", "ops@alpha.example"]  # the new owner gets the digest too
    assert all("3 integration exceptions" in m.subject for m in mail.outbox[1:])


def test_a_reopened_exception_escalates_again(policy, hooks):
    big = mismatch("ACME-042", "1500")
    escalation_tick(now=T0)
    services.exception_clear(exception=big, reason="Totals agree again", now=T0 + timedelta(minutes=5))
    mismatch("ACME-042", "1600", now=T0 + timedelta(minutes=10))

    again = escalation_tick(now=T0 + timedelta(minutes=11))

    assert [f.exception.pk for f in again] == [big.pk] and IntegrationException.objects.get(pk=big.pk).cycle == 2


def test_acknowledged_exceptions_stop_escalating(policy, engineer, hooks):
    big = mismatch("ACME-042", "1500")
    services.exception_acknowledge(exception=big, acting_user=engineer)

    assert escalation_tick(now=T0 + timedelta(hours=2)) == []


def test_quiet_hours_hold_the_digest_until_morning_in_the_policys_time_zone(policy, hooks):
    policy.quiet_start, policy.quiet_end, policy.timezone = "22:00", "07:00", "Europe/Berlin"
    policy.save()
    night = datetime(2026, 11, 2, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    mismatch("ACME-042", "1500", now=night)

    escalation_tick(now=night)
    notifications_deliver(now=night + timedelta(hours=7))  # 06:30 in Berlin: still quiet

    assert mail.outbox == [] and hooks == []
    assert Notification.objects.filter(status=NotificationStatus.PENDING).count() == 2
    notifications_deliver(now=night + timedelta(hours=7, minutes=31))
    assert len(mail.outbox) == 1 and len(hooks) == 1


def test_smtp_down_and_a_webhook_500_are_retried_and_the_exception_is_kept(policy, monkeypatch):
    answers = [httpx.Response(500, json={"error": "down"})] * 2 + [httpx.Response(200)]
    monkeypatch.setattr(notify, "webhook_transport", httpx.MockTransport(lambda request: answers.pop(0)))
    monkeypatch.setattr(EmailMultiAlternatives, "send", lambda self, **kw: (_ for _ in ()).throw(
        SMTPException("Connection refused")))
    big = mismatch("ACME-042", "1500")

    escalation_tick(now=T0)
    counts = notifications_deliver(now=T0)

    assert counts == {"sent": 0, "failed": 2}
    email = Notification.objects.get(channel="email")
    assert (email.status, email.attempts) == (NotificationStatus.FAILED, 1) and "Connection refused" in email.last_error
    assert IntegrationException.objects.get(pk=big.pk).status == Status.OPEN
    monkeypatch.undo()
    monkeypatch.setattr(notify, "webhook_transport", httpx.MockTransport(lambda request: answers.pop(0)))
    assert notifications_deliver(now=T0 + timedelta(minutes=1)) == {"sent": 0, "failed": 0}  # backing off
    assert notifications_deliver(now=T0 + timedelta(minutes=3)) == {"sent": 2, "failed": 0}
    assert len(mail.outbox) == 1


def test_a_broken_mail_server_never_blocks_the_engine(setup, policy, monkeypatch):
    monkeypatch.setattr(EmailMultiAlternatives, "send", lambda self, **kw: (_ for _ in ()).throw(OSError("down")))
    policy.rules = [{"name": "all"}]
    policy.save()
    drop(setup["in"], "time-01.csv", "t4,ann,NOPE-1,2026-11-05,2,approved,unknown project\n")

    run = run_flow(setup["inbound"])
    escalation_tick(now=timezone.now())
    notifications_deliver(now=timezone.now())

    assert run.status == "failed" and IntegrationException.objects.filter(status=Status.OPEN).count() == 1
    assert Notification.objects.get(channel="email").status == NotificationStatus.FAILED


def test_digests_are_branded_with_the_customers_partner(policy, hooks):
    mismatch("ACME-042", "1500")

    escalation_tick(now=T0)
    notifications_deliver(now=T0)

    [message] = mail.outbox
    assert message.subject.startswith("[X Partner Connect]") and "Alpha" in message.subject
    assert message.from_email == "X Partner Connect <weft@localhost>"
    assert message.reply_to == ["support@xpartner.example"]
    html = message.alternatives[0][0]
    assert "X Partner Connect" in html and "#1F3A5F" in html and "ACME-042" in html and "EUR 1500.00" in html
    assert "Weft" not in message.subject


def test_without_a_customer_policy_the_partners_default_applies(in_alpha, cast, hooks):
    PartnerEscalationPolicy.objects.create(partner=cast.xpartner, name="X default",
                                           rules=[{"name": "any money", "min_amount": "1"}],
                                           email_recipients=["noc@xpartner.example"])
    mismatch("ACME-042", "1500")

    escalation_tick(now=T0)
    notifications_deliver(now=T0)

    assert [m.to for m in mail.outbox] == [["noc@xpartner.example"]]


@pytest.mark.parametrize(("rules", "message"), [
    ([{"name": "x", "raise_to": "urgent"}], "severity 'urgent'"),
    ([{"name": "x", "kinds": ["typo"]}], "unknown kind(s) typo"),
    ([{"name": "x"}, {"name": "x"}], "used twice"),
    ([{"name": "x", "min_age": 5}], "unknown setting(s) min_age"),
])
def test_a_policy_with_a_broken_rule_is_refused_with_the_reason(in_alpha, rules, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EscalationPolicy(name="Bad", rules=rules).full_clean()


def test_a_plan_without_escalation_never_escalates(policy, cast, hooks):
    from apps.tenants.models import Plan

    plan = Plan.objects.create(partner=cast.xpartner, name="Basic", slug="basic", monthly_price="99", currency="EUR",
                               features=[])
    cast.alpha.plan = plan
    cast.alpha.save(update_fields=["plan"])
    mismatch("ACME-1", "5000")

    assert escalation_tick(now=T0 + timedelta(hours=2)) == []
    assert not mail.outbox and not Notification.objects.exists()


def test_digest_links_follow_the_configured_site_port_and_scheme(policy, hooks, settings):
    """`make run PORT=8100` sets WEFT_SITE_PORT=8100 for the cluster that sends the digests."""
    settings.WEFT_SITE_PORT, settings.WEFT_SITE_SCHEME = 8100, "http"
    mismatch("ACME-042", "1500")

    escalation_tick(now=T0)
    notifications_deliver(now=T0)

    [message] = mail.outbox
    links = re.findall(r"https?://[^\s\"<>]+", message.body + message.alternatives[0][0])
    assert links and all(":8100/" in link for link in links), links


def test_make_run_gives_the_port_to_every_process_it_starts():
    """The web server, the cluster (which sends the e-mails) and the seed all see PORT as WEFT_SITE_PORT."""
    root = Path(__file__).resolve().parents[2]
    plan = subprocess.run(["make", "-n", "run", "PORT=8100"], cwd=root, capture_output=True, text=True,
                          check=True).stdout
    assert "WEFT_SITE_PORT=8100 .venv/bin/python manage.py seed_demo" in plan
    start = plan.index("export DJANGO_SETTINGS_MODULE=config.settings.local WEFT_SITE_PORT=8100 ")
    command = plan[start:plan.index("gunicorn -c", start)]  # one shell command: the export reaches both
    assert "manage.py qcluster" in command and all(line.endswith("\\") for line in command.splitlines()[:-1])


def test_apostrophes_in_titles_and_names_reach_the_digest_as_written(policy, hooks, cast):
    cast.alpha.name = "O'Brien & Sons"
    cast.alpha.save()
    exception_raise(kind=Kind.VALIDATION, scope="harvest", now=T0,
                    message="Harvest says: you can't log time to a project that's archived.")

    escalation_tick(now=T0 + timedelta(hours=2))  # old enough for the policy's "old" rule
    notifications_deliver(now=T0 + timedelta(hours=2))

    message = mail.outbox[0]
    assert message.subject.endswith("at O'Brien & Sons")  # a plain-text subject: nothing HTML-escaped
    assert "you can't log time to a project that's archived." in message.body
    assert IntegrationException.objects.get().title == "Harvest says: you can't log time to a project that's archived."


def test_a_record_in_two_escalated_exceptions_is_at_risk_once_in_the_digest(policy, hooks):
    """The digest's header is over records, as on the portal: one entry failing in two ways is one entry waiting,
    at risk once."""
    entry = RecordAtRisk(key="TE-7", context={"project": "ACME-042"}, hours=Decimal("8"), amount=Decimal("1200"),
                         currency="EUR")
    for message in ("ACME-042: rate is missing", "ACME-042: project is closed in the ERP"):
        exception_raise(kind=Kind.VALIDATION, source=Source.MONITOR, scope="time:TE-7", message=message,
                        object_type="time_entry", records=[entry], now=T0)

    escalation_tick(now=T0)
    notifications_deliver(now=T0)

    [post] = hooks
    body = httpx.Response(200, content=post.content).json()
    assert body["count"] == 2 and body["open_records"] == 1
    assert body["amounts_at_risk"] == {"EUR": "1200.00"} and Decimal(body["hours_at_risk"]) == 8
    [message] = mail.outbox
    assert "1,200.00" in message.body and "2,400.00" not in message.body
    header = "1 record waiting, 8.00 h, EUR 1,200.00 at risk."
    assert header in message.body and "1 record waiting" in message.alternatives[0][0]
