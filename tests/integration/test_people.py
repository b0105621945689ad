"""notify's people: the user directory API, recipients by role, the in-app
inbox and its live push, the email outbox rows.

The real binary, the dev broker and a real Kafka producer; checks through
the HTTP API and the store, on SQLite and PostgreSQL.
"""
import json

import requests

from harness import Notify, Producer, consume_all, order_event, run, wait_until
from sse import SSEClient, token

TOPIC = "orders.events"


def api(svc, method, path, tok=None, body=None, data=None):
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    if body is not None:
        data = json.dumps(body)
    if data is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(method, svc.url + path, headers=headers, data=data, timeout=10)


def owner(tenant="t1"):
    return token(tenant, sub="u_owner", roles=("Owner",))


def add_user(svc, tenant, user_id, roles, email_on=True, in_app_on=True):
    r = api(svc, "POST", "/api/users", owner(tenant),
            {"user_id": user_id, "email": f"{user_id}@{tenant}.example",
             "display_name": user_id.title(), "roles": list(roles),
             "notification_email_enabled": email_on, "notification_in_app_enabled": in_app_on})
    assert r.status_code == 201, r.text
    return r.json()


def paid(tenant, order, ref="A-1001"):
    return order_event(tenant, order, "order_paid", "paid", reference=ref)


def produce(broker, events, key=None):
    p = Producer(broker.bootstrap)
    for ev in events:
        p.send(TOPIC, ev, key=key or ev["order_id"].encode())
    p.flush()


def stored(db, n):
    wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM event_records") or 0) >= n, 60,
               f"{n} events stored")


def count(db, sql, params=()):
    return db.scalar(sql, params)


def test_users_api_and_its_errors(broker, db_url):
    svc = Notify(broker, db_url)
    try:
        r = api(svc, "POST", "/api/users", owner(),
                {"email": "ann@t1.example", "display_name": "Ann", "roles": ["Manager"]})
        assert r.status_code == 201, r.text
        ann = r.json()
        assert ann["user_id"].startswith("u_") and len(ann["user_id"]) == 26
        assert ann["tenant_id"] == "t1" and ann["roles"] == ["Manager"]
        assert ann["notification_email_enabled"] is True
        assert ann["notification_in_app_enabled"] is True
        assert ann["created_at"].endswith("Z")
        add_user(svc, "t1", "u_owner", ["Owner"])
        users = api(svc, "GET", "/api/users", owner()).json()["users"]
        assert [u["user_id"] for u in users] == sorted([ann["user_id"], "u_owner"])

        r = api(svc, "PATCH", f"/api/users/{ann['user_id']}", owner(),
                {"display_name": "Ann B", "roles": ["Manager", "Cashier"]})
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == "Ann B"
        assert r.json()["roles"] == ["Manager", "Cashier"]
        assert r.json()["email"] == "ann@t1.example"  # untouched

        me = token("t1", sub=ann["user_id"], roles=("Manager",))
        r = api(svc, "GET", "/api/users/me", me)
        assert r.status_code == 200 and r.json()["display_name"] == "Ann B"
        r = api(svc, "PATCH", "/api/users/me/preferences", me,
                {"notification_email_enabled": False})
        assert r.status_code == 200, r.text
        assert r.json()["notification_email_enabled"] is False
        assert r.json()["notification_in_app_enabled"] is True

        # 401, 403, 404
        assert api(svc, "GET", "/api/users").status_code == 401
        assert api(svc, "GET", "/api/users", "not.a.token").status_code == 401
        assert api(svc, "POST", "/api/users/me/preferences").status_code in (404, 405)
        r = api(svc, "POST", "/api/users", me, {"email": "x@t1.example", "display_name": "X",
                                                 "roles": []})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert api(svc, "GET", "/api/users", me).status_code == 403
        assert api(svc, "PATCH", "/api/users/u_owner", me, {"roles": ["Owner"]}).status_code == 403
        r = api(svc, "PATCH", f"/api/users/{ann['user_id']}", owner("t2"), {"display_name": "Z"})
        assert r.status_code == 404
        assert api(svc, "GET", "/api/users", owner("t2")).json()["users"] == []
        assert api(svc, "GET", "/api/users/me", token("t2", sub="u_owner")).status_code == 404
        assert api(svc, "PATCH", "/api/users/me/preferences", token("t1", sub="u_none"),
                   {"notification_email_enabled": False}).status_code == 404

        # 422 with the field names
        r = api(svc, "POST", "/api/users", owner(),
                {"email": "nope", "display_name": "x" * 129, "roles": ["ok", ""],
                 "notification_email_enabled": "yes", "colour": "red"})
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "validation_failed"
        assert set(err["fields"]) == {"email", "display_name", "roles",
                                      "notification_email_enabled", "colour"}
        for name in err["fields"]:
            assert name in err["message"]
        r = api(svc, "POST", "/api/users", owner(), {"email": "a@t1.example"})
        assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"display_name",
                                                                              "roles"}
        r = api(svc, "POST", "/api/users", owner(),
                {"email": "a@t1.example", "display_name": "A", "roles": [f"r{i}" for i in
                                                                         range(17)]})
        assert r.status_code == 422 and r.json()["error"]["fields"] == ["roles"]
        r = api(svc, "PATCH", "/api/users/u_owner", owner(), {"user_id": "u_new"})
        assert r.status_code == 422 and r.json()["error"]["fields"] == ["user_id"]
        r = api(svc, "PATCH", "/api/users/me/preferences", me, {"display_name": "Q"})
        assert r.status_code == 422 and r.json()["error"]["fields"] == ["display_name"]

        # 400, 409, 413
        r = api(svc, "POST", "/api/users", owner(), data='{"email": ')
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        assert api(svc, "POST", "/api/users", owner(), data="[1]").status_code == 400
        r = api(svc, "POST", "/api/users", owner(),
                {"user_id": "u_owner", "email": "o@t1.example", "display_name": "O",
                 "roles": ["Owner"]})
        assert r.status_code == 409, r.text
        big = json.dumps({"email": "a@t1.example", "display_name": "A", "roles": [],
                          "pad": "x" * (2 << 20)})
        assert api(svc, "POST", "/api/users", owner(), data=big).status_code == 413
        # nothing of the refused requests was stored
        assert len(api(svc, "GET", "/api/users", owner()).json()["users"]) == 2
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_bad_role_map_is_a_config_error():
    r = run(["notify"], env={"NOTIFY_RECIPIENT_ROLES": "order_paid=Owner,,Cashier",
                             "JWT_SECRET": "0123456789abcdef0123", "KAFKA_BROKERS": "127.0.0.1:1"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "NOTIFY_RECIPIENT_ROLES" in lines[0], r.stderr


def setup_people(svc):
    add_user(svc, "t1", "u_owner", ["Owner"])
    add_user(svc, "t1", "u_manager", ["Manager"], email_on=False)
    add_user(svc, "t1", "u_cashier", ["Staff", "Cashier"], in_app_on=False)
    add_user(svc, "t1", "u_viewer", ["Viewer"])
    add_user(svc, "t1", "u_off", ["Owner"], email_on=False, in_app_on=False)
    add_user(svc, "t2", "u_owner", ["Owner"])


def published(broker, expected, timeout=30):
    """The notifications.events messages (at least expected of them)."""
    msgs = consume_all(broker.bootstrap, "notifications.events", expected, timeout)
    return [json.loads(m.value()) for m in msgs]


def distinct(notices):
    return {(n["notification_id"], n["channel"], n["state"]) for n in notices}


def test_order_paid_notifies_each_eligible_user_once(broker, db_url, db):
    svc = Notify(broker, db_url)
    owner_sse = viewer_sse = None
    try:
        setup_people(svc)
        owner_sse = SSEClient(svc.port, token("t1", sub="u_owner"))
        viewer_sse = SSEClient(svc.port, token("t1", sub="u_viewer", roles=("Viewer",)))
        other_sse = SSEClient(svc.port, token("t2", sub="u_owner"))
        for c in (owner_sse, viewer_sse, other_sse):
            c.wait_events(lambda evs: any(e["event"] == "connection" for e in evs))
        ev = paid("t1", "ord_1")
        produce(broker, [ev, order_event("t1", "ord_1", "order_created", "created")])
        stored(db, 2)

        inbox = sorted(u for (u,) in db.query("SELECT user_id FROM notify_inbox"))
        assert inbox == ["u_manager", "u_owner"]
        email = db.query("SELECT user_id, to_addr, state, template, vars FROM notify_email_outbox"
                         " ORDER BY user_id")
        assert [(u, a, s, t) for u, a, s, t, _ in email] == [
            ("u_cashier", "u_cashier@t1.example", "queued", "order_paid"),
            ("u_owner", "u_owner@t1.example", "queued", "order_paid")]
        vars_ = json.loads(email[1][4])
        assert vars_["reference"] == "A-1001" and vars_["total_amount"] == "129.90"
        assert vars_["event_id"] == ev["event_id"] and vars_["email"] == "u_owner@t1.example"
        notices = published(broker, 4)
        assert sorted((n["user_id"], n["channel"], n["state"]) for n in notices) == [
            ("u_cashier", "email", "queued"), ("u_manager", "in_app", "sent"),
            ("u_owner", "email", "queued"), ("u_owner", "in_app", "sent")]
        assert all(n["order_id"] == "ord_1" and n["template"] == "order_paid" for n in notices)

        # Live: the owner's own stream gets the notification (no id), the
        # viewer's does not; both get the tenant's order events.
        owner_sse.wait_events(lambda evs: any(e["event"] == "notification" for e in evs))
        note = [e for e in owner_sse.events if e["event"] == "notification"]
        assert len(note) == 1 and "id" not in note[0]
        body = json.loads(note[0]["data"])
        assert body["title"] == "Order A-1001 paid" and body["body"] == "129.90 EUR"
        assert body["read"] is False and body["read_at"] is None
        assert body["data"]["order_id"] == "ord_1"
        viewer_sse.wait_events(lambda evs: sum(e["event"] in ("order_paid", "order_created")
                                               for e in evs) == 2)
        owner_sse.wait_events(lambda evs: sum(e["event"] in ("order_paid", "order_created")
                                              for e in evs) == 2)
        # The marker after the last event: anything meant for the viewer was sent before.
        produce(broker, [order_event("t1", "ord_marker", "order_created", "created")])
        viewer_sse.wait_events(lambda evs: any(e.get("data", "").find("ord_marker") >= 0
                                               for e in evs))
        assert not any(e["event"] == "notification" for e in viewer_sse.events)
        assert not any(e["event"] == "notification" for e in other_sse.events)
        api_list = api(svc, "GET", "/api/notifications", token("t1", sub="u_owner")).json()
        assert api_list["notifications"][0]["notification_id"] == body["notification_id"]

        # Redelivery of the same event: nothing more.
        dup_before = svc.metric("orderpulse_events_duplicate_total")
        produce(broker, [ev])
        wait_until(lambda: svc.metric("orderpulse_events_duplicate_total") > dup_before, 30,
                   "the redelivery seen")
        assert count(db, "SELECT COUNT(*) FROM notify_inbox") == 2
        assert count(db, "SELECT COUNT(*) FROM notify_email_outbox") == 2
        # The relay may publish a notice twice (a crash between send and
        # delete); distinct (notification, channel, state) are what count.
        assert len(distinct(published(broker, 4))) == 4
    finally:
        for c in (owner_sse, viewer_sse):
            if c:
                c.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_inbox_read_flows_pagination_and_isolation(broker, db_url, db):
    svc = Notify(broker, db_url)
    try:
        add_user(svc, "t1", "u_owner", ["Owner"])
        add_user(svc, "t1", "u_cashier", ["Cashier"])
        add_user(svc, "t2", "u_owner", ["Owner"])
        # One key: one partition, so the events are stored in this order.
        produce(broker, [paid("t1", f"ord_{i}", ref=f"R-{i}") for i in range(5)], key=b"k")
        stored(db, 5)
        me = token("t1", sub="u_owner")
        wait_until(lambda: api(svc, "GET", "/api/notifications", me).json()["unread_count"] == 5,
                   10, "5 unread")
        # Pages of 2, newest first, following next_cursor.
        seen, cursor = [], None
        while True:
            r = api(svc, "GET", "/api/notifications?limit=2" + (f"&cursor={cursor}" if cursor
                                                                else ""), me)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["notifications"]) <= 2
            seen += page["notifications"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [n["title"] for n in seen] == [f"Order R-{i} paid" for i in reversed(range(5))]
        ids = [n["notification_id"] for n in seen]
        assert ids == sorted(ids, reverse=True)

        r = api(svc, "POST", f"/api/notifications/{ids[0]}/read", me)
        assert r.status_code == 200 and r.json()["read"] is True and r.json()["read_at"]
        again = api(svc, "POST", f"/api/notifications/{ids[0]}/read", me)
        assert again.status_code == 200 and again.json()["read_at"] == r.json()["read_at"]
        unread = api(svc, "GET", "/api/notifications?unread=true", me).json()
        assert unread["unread_count"] == 4 and len(unread["notifications"]) == 4
        assert ids[0] not in [n["notification_id"] for n in unread["notifications"]]
        assert len(api(svc, "GET", "/api/notifications?unread=false", me).json()
                   ["notifications"]) == 5

        # Another user of the tenant, and the same user id in another tenant.
        cashier = token("t1", sub="u_cashier", roles=("Cashier",))
        other = token("t2", sub="u_owner")
        for tok in (cashier, other):
            assert api(svc, "POST", f"/api/notifications/{ids[1]}/read", tok).status_code == 404
        assert api(svc, "GET", "/api/notifications", other).json() == {
            "notifications": [], "unread_count": 0, "next_cursor": None}
        cashier_list = api(svc, "GET", "/api/notifications", cashier).json()
        assert cashier_list["unread_count"] == 5
        assert not set(ids) & {n["notification_id"] for n in cashier_list["notifications"]}

        r = api(svc, "POST", "/api/notifications/read-all", me)
        assert r.status_code == 200 and r.json() == {"marked": 4, "unread_count": 0}
        assert api(svc, "GET", "/api/notifications", me).json()["unread_count"] == 0
        assert api(svc, "GET", "/api/notifications", cashier).json()["unread_count"] == 5

        for q in ("limit=0", "limit=101", "limit=x", "unread=maybe", "cursor=nope"):
            assert api(svc, "GET", f"/api/notifications?{q}", me).status_code == 400, q
        assert api(svc, "GET", "/api/notifications").status_code == 401
        assert api(svc, "POST", "/api/notifications/read-all").status_code == 401
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_kill9_mid_flow_neither_loses_nor_doubles(broker, db_url, db):
    svc = Notify(broker, db_url)
    add_user(svc, "t1", "u_owner", ["Owner"])
    add_user(svc, "t1", "u_cashier", ["Cashier"], email_on=False)
    events = [paid("t1", f"ord_k{i}", ref=f"K-{i}") for i in range(300)]
    produce(broker, events)
    wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM event_records") or 0) > 0, 60,
               "progress before the kill", interval=0.01)
    svc.kill9()
    svc = Notify(broker, db_url, wait=False)
    try:
        svc.wait_ready(timeout=30)
        stored(db, len(events))
        wait_until(lambda: count(db, "SELECT COUNT(*) FROM notify_inbox") == 600, 30,
                   "600 inbox rows")
        assert count(db, "SELECT COUNT(DISTINCT event_id) FROM notify_inbox"
                         " WHERE user_id = 'u_owner'") == 300
        assert count(db, "SELECT COUNT(DISTINCT event_id) FROM notify_inbox"
                         " WHERE user_id = 'u_cashier'") == 300
        assert count(db, "SELECT COUNT(*) FROM notify_email_outbox") == 300
        assert len(distinct(published(broker, 900, timeout=60))) == 900
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]
