"""orderpulse notify: the email sender and the notifications.events relay.

A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) runs in the test
process on a free loopback port; mails are queued by inserting rows into
notify_email_outbox (the recipients code creates them in production).
"""
import asyncio
import email
import email.policy
import json
import threading
import time
import uuid

import pytest

from harness import Notify, consume_all, free_port, run, wait_until

import aiosmtpd.controller as aiosmtpd_controller  # python3-aiosmtpd (scripts/install-deps.sh)

NOTICES = "notifications.events"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Handler:
    """Collects delivered mails. RCPT to reject*@ gets 550, to tempfail*@ 451."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.lock = threading.Lock()
        self.mails = []  # (mail_from, [rcpt], bytes)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if address.startswith("tempfail"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def received(self):
        with self.lock:
            return list(self.mails)

    def by_rcpt(self):
        out = {}
        for _, rcpts, _ in self.received():
            for r in rcpts:
                out[r] = out.get(r, 0) + 1
        return out


class Smtp:
    """An SMTP server that a test can stop and start again on the same port."""

    def __init__(self, delay=0.0, auth=None):
        self.port = free_port()
        self.handler = Handler(delay)
        self.auth = auth  # (user, password) the server requires, or None
        self.logins = []
        self.controller = None
        self.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        extra = {}
        if self.auth:
            extra = {"authenticator": self._authenticate, "auth_required": True,
                     "auth_require_tls": False}
        self.controller = aiosmtpd_controller.Controller(self.handler, hostname="127.0.0.1",
                                                         port=self.port, **extra)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    s = Smtp()
    yield s
    s.stop()


def connect(db_url):
    if db_url.startswith("sqlite://"):
        import sqlite3
        con = sqlite3.connect(db_url[len("sqlite://"):], timeout=30)
        return con, "?"
    import psycopg2
    return psycopg2.connect(db_url), "%s"


def queue_mail(db_url, to, user="u_owner", tenant="t_acme", reference="A-1001", state="queued",
               sent_at=None, next_at=None, template="order_paid"):
    """Inserts one mail as notify's recipients code does; returns its id."""
    nid = str(uuid.uuid4())
    order = "ord_" + uuid.uuid4().hex[:8]
    now = int(time.time() * 1000)
    vars_ = {"order_id": order, "reference": reference, "total_amount": "129.90",
             "currency": "EUR", "status": "paid", "tenant_id": tenant, "user_id": user,
             "display_name": "Ann Owner", "email": to, "event_id": str(uuid.uuid4()),
             "timestamp": "2026-11-23T10:00:00.000Z"}
    con, ph = connect(db_url)
    try:
        cur = con.cursor()
        cur.execute(
            "INSERT INTO notify_email_outbox (notification_id, tenant_id, user_id, event_id,"
            " event_type, order_id, to_addr, template, vars, state, attempts, next_attempt_at,"
            " trace_id, created_at, sent_at) VALUES (" + ", ".join([ph] * 15) + ")",
            (nid, tenant, user, vars_["event_id"], "order_paid", order, to, template,
             json.dumps(vars_), state, 0, next_at or now, TRACE, now, sent_at))
        con.commit()
    finally:
        con.close()
    return nid


def row(db, nid):
    rows = db.query("SELECT state, attempts, reason, sent_at FROM notify_email_outbox"
                    " WHERE notification_id = ?", (nid,))
    return rows[0] if rows else None


def states(db):
    return dict(db.query("SELECT state, COUNT(*) FROM notify_email_outbox GROUP BY state"))


def start_notify(broker, db_url, smtp_url, **env):
    extra = {"SMTP_URL": smtp_url, "SMTP_FROM": "shop@orderpulse.test",
             "EMAIL_RETRY_BASE_MS": "200", "EMAIL_RETRY_MAX_MS": "2000",
             "EMAIL_TIMEOUT_MS": "3000", "EMAIL_RATE_PER_USER_MINUTE": "0"}
    extra.update({k: str(v) for k, v in env.items()})
    return Notify(broker, db_url, extra_env=extra)


def notices(broker, expected, timeout=30):
    msgs = consume_all(broker.bootstrap, NOTICES, expected, timeout)
    out = []
    for m in msgs:
        body = json.loads(m.value())
        headers = dict(m.headers() or [])
        assert m.key().decode() == body["user_id"]
        assert TRACE in headers["traceparent"].decode()
        out.append(body)
    return out


def check_notice(n, state):
    for f in ("notification_id", "tenant_id", "user_id", "channel", "template", "state",
              "order_id", "trace_id"):
        assert isinstance(n.get(f), str) and n[f], f
    assert n["channel"] == "email" and n["template"] == "order_paid" and n["state"] == state
    assert n["trace_id"] == TRACE
    if state == "sent":
        assert n["sent_at"].endswith("Z") and "reason" not in n
    else:
        assert 1 <= len(n["reason"]) <= 512 and "sent_at" not in n


def test_a_queued_mail_is_delivered_once_as_text_and_html(broker, db_url, db, smtp):
    svc = start_notify(broker, db_url, smtp.url)
    nid = queue_mail(db_url, "ann@shop.test", reference="<script>alert('x')</script>")
    wait_until(lambda: row(db, nid)[0] == "sent", 20, "the mail sent")
    state, attempts, reason, sent_at = row(db, nid)
    assert attempts == 1 and reason is None and sent_at > 0
    wait_until(lambda: len(smtp.handler.received()) == 1, 5, "the server to have the mail")

    mail_from, rcpts, raw = smtp.handler.received()[0]
    assert mail_from == "shop@orderpulse.test" and rcpts == ["ann@shop.test"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Order <script>alert('x')</script> paid: 129.90 EUR"
    assert msg["To"] == "ann@shop.test" and msg["From"] == "shop@orderpulse.test"
    assert msg["Message-ID"] == f"<{nid}@orderpulse>" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = parts[0].get_content(), parts[1].get_content()
    assert "Hello Ann Owner," in text and "<script>alert('x')</script>" in text
    assert "129.90 EUR" in text and "paid" in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>" not in html and "Ann Owner" in html and "129.90 EUR" in html

    (n,) = notices(broker, 1)
    check_notice(n, "sent")
    assert n["notification_id"] == nid and n["user_id"] == "u_owner"
    wait_until(lambda: db.scalar("SELECT COUNT(*) FROM notify_publish_outbox") == 0, 10,
               "the published notice deleted")
    assert svc.metric('orderpulse_emails_total{state="sent"}') == 1
    assert svc.health()[1]["smtp"]["status"] == "ok"
    time.sleep(1)  # a second pass must not send it again
    assert len(smtp.handler.received()) == 1
    assert svc.stop() == 0


def test_rejected_and_exhausted_mails_fail_with_the_reason_others_are_sent(
        broker, db_url, db, smtp):
    svc = start_notify(broker, db_url, smtp.url, EMAIL_MAX_ATTEMPTS=3)
    ok = [queue_mail(db_url, f"ok{i}@shop.test", user=f"u_{i}") for i in range(3)]
    rejected = queue_mail(db_url, "reject@shop.test", user="u_r")
    tempfail = queue_mail(db_url, "tempfail@shop.test", user="u_t")
    wait_until(lambda: states(db) == {"sent": 3, "failed": 2}, 30, "every mail done")
    for nid in ok:
        assert row(db, nid)[:2] == ("sent", 1)
    state, attempts, reason, _ = row(db, rejected)
    assert (state, attempts) == ("failed", 1)  # 5xx: at once
    assert reason.startswith("550") and "Recipient address rejected" in reason
    state, attempts, reason, _ = row(db, tempfail)
    assert (state, attempts) == ("failed", 3)  # 4xx: retried up to EMAIL_MAX_ATTEMPTS
    assert reason.startswith("451")
    assert smtp.handler.by_rcpt() == {f"ok{i}@shop.test": 1 for i in range(3)}

    got = notices(broker, 5)
    assert len(got) == 5
    by_id = {n["notification_id"]: n for n in got}
    for nid in ok:
        check_notice(by_id[nid], "sent")
    check_notice(by_id[rejected], "failed")
    assert by_id[rejected]["reason"].startswith("550")
    check_notice(by_id[tempfail], "failed")
    assert svc.metric('orderpulse_emails_total{state="failed"}') == 2
    assert svc.metric('orderpulse_emails_total{state="retried"}') == 2
    assert svc.stop() == 0


@pytest.mark.backends("postgres")  # 30 s of waiting; the outbox SQL is covered on both
def test_smtp_down_for_30_seconds_loses_and_doubles_nothing(broker, db_url, db, smtp):
    smtp.stop()
    svc = start_notify(broker, db_url, smtp.url, EMAIL_MAX_ATTEMPTS=100)
    ids = [queue_mail(db_url, f"r{i}@shop.test", user=f"u_{i}") for i in range(6)]
    wait_until(lambda: db.scalar("SELECT MIN(attempts) FROM notify_email_outbox") >= 1, 20,
               "a first failed attempt of every mail")
    wait_until(lambda: svc.health()[1]["smtp"]["status"] == "degraded", 10, "smtp degraded")
    time.sleep(30)  # the outage itself, not a synchronisation
    assert states(db) == {"queued": 6}
    smtp.start()
    wait_until(lambda: states(db) == {"sent": 6}, 30, "every mail sent after the outage")
    assert smtp.handler.by_rcpt() == {f"r{i}@shop.test": 1 for i in range(6)}
    for nid in ids:
        assert row(db, nid)[1] >= 2  # the failed attempts were counted
    wait_until(lambda: svc.health()[1]["smtp"]["status"] == "ok", 10, "smtp ok again")
    got = notices(broker, 6)
    assert sorted(n["notification_id"] for n in got) == sorted(ids)
    assert svc.metric('orderpulse_emails_total{state="retried"}') >= 6
    assert svc.stop() == 0


def test_rate_limit_defers_but_delivers(broker, db_url, db, smtp):
    svc = start_notify(broker, db_url, smtp.url, EMAIL_RATE_PER_USER_MINUTE=2)
    # Two mails of u_busy sent 56 s ago fill its minute for another ~4 s.
    before = int(time.time() * 1000) - 56000
    for i in range(2):
        queue_mail(db_url, "old@shop.test", user="u_busy", state="sent", sent_at=before)
    later = [queue_mail(db_url, "busy@shop.test", user="u_busy") for _ in range(2)]
    other = queue_mail(db_url, "calm@shop.test", user="u_calm")
    wait_until(lambda: row(db, other)[0] == "sent", 10, "another user's mail at once")
    assert [row(db, nid)[0] for nid in later] == ["queued", "queued"]
    wait_until(lambda: all(row(db, nid)[0] == "sent" for nid in later), 20, "deferred mails sent")
    for nid in later:
        state, attempts, _, sent_at = row(db, nid)
        assert attempts == 1  # a deferral is not an attempt
        assert sent_at >= before + 60000  # not before the window had room
    assert smtp.handler.by_rcpt() == {"busy@shop.test": 2, "calm@shop.test": 1}
    assert svc.metric('orderpulse_emails_total{state="deferred"}') >= 1
    assert svc.stop() == 0


def test_two_instances_share_the_outbox_and_send_each_mail_once(broker, db_url, db, smtp):
    """Scale-out: every notify instance runs a sender on the shared outbox; a
    mail is claimed by one of them only."""
    out = run(["migrate"], env={"DATABASE_URL": db_url})
    assert out.returncode == 0, out.stderr
    mails = [queue_mail(db_url, f"user{i}@shop.test", user=f"u_{i}") for i in range(40)]
    a = start_notify(broker, db_url, smtp.url)
    b = start_notify(broker, db_url, smtp.url)
    try:
        wait_until(lambda: all(row(db, nid)[0] == "sent" for nid in mails), 60, "every mail sent")
        assert smtp.handler.by_rcpt() == {f"user{i}@shop.test": 1 for i in range(40)}
        assert all(row(db, nid)[1] == 1 for nid in mails)  # one attempt each
        sent = [a.metric('orderpulse_emails_total{state="sent"}'),
                b.metric('orderpulse_emails_total{state="sent"}')]
        assert sum(sent) == 40
    finally:
        assert a.stop() == 0 and b.stop() == 0


def test_kill9_mid_sending_loses_nothing(broker, db_url, db):
    smtp = Smtp(delay=0.3)  # slow enough to be killed in the middle
    try:
        svc = start_notify(broker, db_url, smtp.url, EMAIL_TIMEOUT_MS=2000)
        n = 12
        for i in range(n):
            queue_mail(db_url, f"k{i}@shop.test", user=f"u_{i}")
        wait_until(lambda: len(smtp.handler.received()) >= 3, 30, "some mails delivered")
        svc.kill9()
        assert len(smtp.handler.received()) < n
        svc = start_notify(broker, db_url, smtp.url, EMAIL_TIMEOUT_MS=2000)
        wait_until(lambda: states(db) == {"sent": n}, 60, "every mail sent after the restart")
        counts = smtp.handler.by_rcpt()
        assert set(counts) == {f"k{i}@shop.test" for i in range(n)}  # none lost
        assert sum(counts.values()) - n <= 1  # at most the one in flight doubled
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM notify_publish_outbox") == 0, 20,
                   "every notice published")
        # The killed relay may have published some notices twice (same ids):
        # read everything there is.
        got = notices(broker, 2 * n, timeout=10)
        assert {x["notification_id"] for x in got} == {
            r[0] for r in db.query("SELECT notification_id FROM notify_email_outbox")}
        assert svc.stop() == 0
    finally:
        smtp.stop()


def test_templates_dir_override_and_a_missing_template(broker, db_url, db, smtp, tmp_path):
    tdir = tmp_path / "mytemplates"
    tdir.mkdir()
    (tdir / "order_paid.subject").write_text("Paid {{reference}} {{unknown}}!\n")
    (tdir / "order_paid.html").write_text("<p>{{reference}}</p>")
    (tdir / "order_paid.txt").write_text("ref={{reference}}")
    svc = start_notify(broker, db_url, smtp.url, EMAIL_TEMPLATES_DIR=str(tdir))
    good = queue_mail(db_url, "ann@shop.test", reference="A-1\r\nBcc: evil@x.test")
    missing = queue_mail(db_url, "bob@shop.test", user="u_bob", template="order_shipped")
    wait_until(lambda: states(db) == {"sent": 1, "failed": 1}, 20, "both mails done")
    assert row(db, missing)[:3] == ("failed", 0, "template_missing")
    assert row(db, good)[0] == "sent"
    (_, rcpts, raw), = smtp.handler.received()
    assert rcpts == ["ann@shop.test"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Paid A-1Bcc: evil@x.test !"  # CR/LF gone, one header
    assert msg["Bcc"] is None
    text, html = [p.get_content() for p in msg.iter_parts()]
    assert text.startswith("ref=A-1") and text.rstrip().endswith("Bcc: evil@x.test")  # raw
    assert "Bcc: evil@x.test</p>" in html
    got = {n["notification_id"]: n for n in notices(broker, 2)}
    check_notice(got[missing] | {"template": "order_paid"}, "failed")
    assert got[missing]["template"] == "order_shipped"
    assert got[missing]["reason"] == "template_missing"
    assert "{{unknown}} is not set" in svc.log_text()
    assert svc.stop() == 0


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_from_smtp_url_are_used_and_never_logged(broker, db_url, db):
    smtp = Smtp(auth=("mailer", "s3cret-Pa55"))
    try:
        svc = start_notify(broker, db_url, f"smtp://mailer:s3cret-Pa55@127.0.0.1:{smtp.port}")
        nid = queue_mail(db_url, "ann@shop.test")
        wait_until(lambda: row(db, nid)[0] == "sent", 20, "the mail sent")
        assert smtp.logins and all(ok for _, ok in smtp.logins)
        assert smtp.handler.by_rcpt() == {"ann@shop.test": 1}
        assert svc.stop() == 0
        assert "s3cret-Pa55" not in svc.log_text()
    finally:
        smtp.stop()


def test_without_smtp_url_mail_stays_queued(broker, db_url, db):
    svc = start_notify(broker, db_url, "")
    nid = queue_mail(db_url, "ann@shop.test")
    time.sleep(1)  # the absence of a send cannot be awaited
    assert row(db, nid)[:2] == ("queued", 0)
    assert "smtp" not in svc.health()[1]
    assert "SMTP_URL is empty" in svc.log_text()
    assert svc.stop() == 0
