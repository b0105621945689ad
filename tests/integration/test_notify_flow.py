"""orderpulse notify end to end: users from the API, order_paid events from
Kafka, mail at a real SMTP server (aiosmtpd) and the inbox — recipients by
role, each channel by the user's preference, once per event."""
import email
import email.policy

from harness import wait_until
from sse import token
from test_email import Smtp, start_notify
from test_people import add_user, api, paid, produce, stored

import pytest


@pytest.fixture
def smtp():
    s = Smtp()
    yield s
    s.stop()


def mails_to(smtp):
    return smtp.handler.by_rcpt()


def test_a_paid_order_mails_and_notifies_each_eligible_user_once(broker, db_url, db, smtp):
    svc = start_notify(broker, db_url, smtp.url)
    try:
        add_user(svc, "t1", "u_owner", ["Owner"])
        add_user(svc, "t1", "u_manager", ["Manager", "Viewer"], email_on=False)
        add_user(svc, "t1", "u_cashier", ["Cashier"], in_app_on=False)
        add_user(svc, "t1", "u_viewer", ["Viewer"])  # a role outside the map
        add_user(svc, "t2", "u_owner", ["Owner"])
        ev = paid("t1", "ord_e2e", ref="<script>alert(1)</script>")
        produce(broker, [ev])
        wait_until(lambda: mails_to(smtp) == {"u_owner@t1.example": 1,
                                               "u_cashier@t1.example": 1}, 30,
                   "one mail to each email-enabled recipient")

        # Redelivered: recognised as a duplicate, nothing new. A later event
        # of another tenant is the marker: its mail comes after anything the
        # redelivery could have queued.
        produce(broker, [ev, paid("t2", "ord_marker")])
        stored(db, 2)
        wait_until(lambda: "u_owner@t2.example" in mails_to(smtp), 30, "the marker's mail")
        assert mails_to(smtp) == {"u_owner@t1.example": 1, "u_cashier@t1.example": 1,
                                  "u_owner@t2.example": 1}
        assert svc.metric("orderpulse_events_duplicate_total") == 1

        raw = next(m for _, r, m in smtp.handler.received() if r == ["u_owner@t1.example"])
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Subject"] == "Order <script>alert(1)</script> paid: 129.90 EUR"
        text, html = (p.get_content() for p in msg.iter_parts())
        assert "Hello U_Owner," in text and "<script>alert(1)</script>" in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html

        def inbox(user):
            r = api(svc, "GET", "/api/notifications", token("t1", sub=user))
            assert r.status_code == 200, r.text
            return [n["order_id"] for n in r.json()["notifications"]]

        assert inbox("u_owner") == ["ord_e2e"] and inbox("u_manager") == ["ord_e2e"]
        assert inbox("u_cashier") == [] and inbox("u_viewer") == []
        assert db.scalar("SELECT COUNT(*) FROM notify_email_outbox WHERE state = 'sent'") == 3
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]
