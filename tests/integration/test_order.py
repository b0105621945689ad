"""orderpulse order: the REST API, the transactional outbox on Kafka, the payment and
inventory state machine, against the real binary, the dev broker and both backends."""
import json
import os
import pathlib
import threading
import time
import uuid

import pytest
import requests
from jsonschema import Draft7Validator, RefResolver

from harness import Producer, Service, consume_all, run, wait_until
from sse import token

CONTRACTS = pathlib.Path(__file__).resolve().parents[2] / "contracts"
STORE = {p.name: json.loads(p.read_text()) for p in CONTRACTS.glob("*.schema.json")}
OUT_TOPICS = ("orders.created", "orders.events", "orders.audit")


def schema_validator(topic):
    schema = STORE[f"{topic}.schema.json"]
    return Draft7Validator(schema, resolver=RefResolver(base_uri=schema["$id"], referrer=schema,
                                                        store=STORE))


VALIDATORS = {t: schema_validator(t) for t in ("orders.created", "orders.audit")}


class Reader:
    """One consumer of the order service's output topics that keeps what it read."""

    def __init__(self, bootstrap, topics=OUT_TOPICS):
        from confluent_kafka import Consumer
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.c.subscribe(list(topics))
        self.msgs = []

    def poll(self):
        while True:
            m = self.c.poll(0.2)
            if m is None:
                return
            if not m.error():
                self.msgs.append(m)

    def of(self, topic, order_id=None):
        return [json.loads(m.value()) for m in self.msgs if m.topic() == topic and
                (order_id is None or m.key().decode() == order_id)]

    def wait(self, pred, timeout=30, what="messages"):
        def check():
            self.poll()
            return pred(self)
        return wait_until(check, timeout, what)

    def close(self):
        self.c.close()


def validate_with_c(values, tmp_path):
    """Every value passes the consumers' own orders.events validator."""
    files = []
    for i, v in enumerate(values):
        f = tmp_path / f"ev-{uuid.uuid4().hex[:8]}-{i}.json"
        f.write_text(v if isinstance(v, str) else json.dumps(v))
        files.append(str(f))
    res = run(["validate", "--topic", "orders.events", "--", *files])
    assert res.returncode == 0, res.stdout + res.stderr


def start(broker, db_url, **env):
    return Service("order", broker, db_url, extra_env=env)


def post(svc, body, tok, key=None, raw=None, headers=None):
    h = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    if key is not None:
        h["Idempotency-Key"] = key
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body)
    return requests.post(svc.url + "/api/orders", data=data, headers=h, timeout=30)


def get(svc, path, tok):
    return requests.get(svc.url + path, headers={"Authorization": f"Bearer {tok}"}, timeout=30)


def action(svc, order_id, what, tok):
    return requests.post(f"{svc.url}/api/orders/{order_id}/{what}",
                         headers={"Authorization": f"Bearer {tok}"}, timeout=30)


ORDER = {"line_items": [{"sku": "SKU-1", "qty": 2, "unit_price": "10.10"},
                        {"sku": "SKU-2", "qty": 1, "unit_price": "0.05"}],
         "currency": "EUR", "reference": "A-1001"}


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def payment(order_id, tenant, state="succeeded", amount="20.25", payment_id=None):
    body = {"order_id": order_id, "tenant_id": tenant,
            "payment_id": payment_id or "pay_" + order_id, "state": state, "amount": amount,
            "currency": "EUR", "processed_at": now_iso(), "trace_id": uuid.uuid4().hex}
    if state == "failed":
        body["reason"] = "card_declined"
    return body


def stock(order_id, tenant, sku, state="reserved", qty=1):
    return {"sku": sku, "tenant_id": tenant, "order_id": order_id,
            "delta": -qty if state == "reserved" else 0, "reservation_id": "res_" + order_id,
            "state": state, "processed_at": now_iso(), "trace_id": uuid.uuid4().hex,
            "available": 5}


def statuses(reader, order_id):
    return [e["payload"]["status"] for e in reader.of("orders.events", order_id)]


def test_create_stores_and_publishes_three_valid_messages(broker, db_url, db, tmp_path):
    svc = start(broker, db_url)
    reader = Reader(broker.bootstrap)
    try:
        tok = token("t_acme", sub="u_7")
        trace = uuid.uuid4().hex
        r = post(svc, ORDER, tok, headers={"traceparent": f"00-{trace}-{'1' * 16}-01"})
        assert r.status_code == 201, r.text
        body = r.json()
        oid = body["order_id"]
        assert oid.startswith("ord_")
        assert body["status"] == "created" and body["total_amount"] == "20.25"
        assert body["currency"] == "EUR" and body["reference"] == "A-1001"
        assert body["line_items"] == ORDER["line_items"] and body["created_at"].endswith("Z")
        assert get(svc, f"/api/orders/{oid}", tok).json()["order_id"] == oid

        reader.wait(lambda r: all(r.of(t, oid) for t in OUT_TOPICS), what="3 outbox messages")
        created = reader.of("orders.created", oid)[0]
        assert created["tenant_id"] == "t_acme" and created["user_id"] == "u_7"
        assert created["total_amount"] == "20.25" and created["trace_id"] == trace
        assert created["line_items"] == ORDER["line_items"]
        event = reader.of("orders.events", oid)[0]
        assert event["event_type"] == "order_created" and event["payload"]["status"] == "created"
        audit = reader.of("orders.audit", oid)[0]
        assert audit["action"] == "created" and audit["to_status"] == "created"
        assert audit["event_id"] == event["event_id"] and audit["actor"] == "u_7"
        for topic in ("orders.created", "orders.audit"):
            errors = list(VALIDATORS[topic].iter_errors(reader.of(topic, oid)[0]))
            assert not errors, errors
        validate_with_c([m.value().decode() for m in reader.msgs
                         if m.topic() == "orders.events"], tmp_path)
        for m in reader.msgs:
            assert m.key().decode() == oid
            tp = dict(m.headers())["traceparent"].decode()
            assert tp.startswith(f"00-{trace}-") and len(tp) == 55
        assert db.scalar("SELECT COUNT(*) FROM order_orders") == 1
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM order_outbox") == 0, 10, "outbox empty")
        assert svc.metric("orderpulse_orders_created_total") == 1
        wait_until(lambda: svc.metric("orderpulse_outbox_published_total") == 3, 10, "published")
        assert svc.metric("orderpulse_outbox_pending") == 0
    finally:
        reader.close()
        assert svc.stop() == 0


def wait_published(svc, db, n):
    wait_until(lambda: db.scalar("SELECT COUNT(*) FROM order_outbox") == 0 and
               svc.metric("orderpulse_outbox_published_total") >= n, 30, f"{n} published")


def test_idempotency_key_replays_or_conflicts(broker, db_url, db):
    svc = start(broker, db_url)
    reader = Reader(broker.bootstrap)
    try:
        tok = token("t_acme")
        first = post(svc, ORDER, tok, key="key-1")
        assert first.status_code == 201
        # The same body with its keys in another order and spacing is the same request.
        again = post(svc, None, tok, key="key-1",
                     raw=json.dumps(dict(reversed(list(ORDER.items()))), indent=2))
        assert again.status_code == 201 and again.content == first.content
        other = post(svc, dict(ORDER, reference="B-2"), tok, key="key-1")
        assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
        # Keys are per tenant: another tenant's same key is another order.
        elsewhere = post(svc, ORDER, token("t_other"), key="key-1")
        assert elsewhere.status_code == 201
        assert elsewhere.json()["order_id"] != first.json()["order_id"]
        for bad in ("k" * 256, ""):
            r = post(svc, ORDER, tok, key=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_idempotency_key", bad
        r = requests.post(svc.url + "/api/orders", data=json.dumps(ORDER).encode(),
                          headers={"Authorization": f"Bearer {tok}",
                                   "Idempotency-Key": "caf\u00e9".encode("latin-1")}, timeout=10)
        assert r.status_code == 400
        assert post(svc, ORDER, tok, key="k" * 255).status_code == 201
        assert db.scalar("SELECT COUNT(*) FROM order_orders") == 3
        wait_published(svc, db, 9)
        reader.wait(lambda r: len(r.msgs) >= 9, what="9 messages")
        oid = first.json()["order_id"]
        for t in OUT_TOPICS:
            assert len({json.dumps(m, sort_keys=True) for m in reader.of(t, oid)}) == 1, t
    finally:
        reader.close()
        assert svc.stop() == 0


LONG = "x" * 257
BAD_BODIES = [
    ({}, {"line_items", "currency"}),
    ({"line_items": [], "currency": "EUR"}, {"line_items"}),
    ({"line_items": {"sku": "a"}, "currency": "EUR"}, {"line_items"}),
    (dict(ORDER, foo=1), {"foo"}),
    (dict(ORDER, currency="eur"), {"currency"}),
    (dict(ORDER, currency="EURO"), {"currency"}),
    (dict(ORDER, currency=978), {"currency"}),
    (dict(ORDER, reference=LONG), {"reference"}),
    (dict(ORDER, reference=5), {"reference"}),
    ({"line_items": [{"sku": "a", "qty": 0, "unit_price": "1.00"}], "currency": "EUR"},
     {"line_items[0].qty"}),
    ({"line_items": [{"sku": "a", "qty": 10001, "unit_price": "1.00"}], "currency": "EUR"},
     {"line_items[0].qty"}),
    ({"line_items": [{"sku": "a", "qty": "2", "unit_price": "1.00"}], "currency": "EUR"},
     {"line_items[0].qty"}),
    ({"line_items": [{"sku": "a", "qty": 1.5, "unit_price": "1.00"}], "currency": "EUR"},
     {"line_items[0].qty"}),
    ({"line_items": [{"sku": "a", "qty": 1, "unit_price": "-1.00"}], "currency": "EUR"},
     {"line_items[0].unit_price"}),
    ({"line_items": [{"sku": "a", "qty": 1, "unit_price": 10.5}], "currency": "EUR"},
     {"line_items[0].unit_price"}),
    ({"line_items": [{"sku": "a", "qty": 1, "unit_price": "1.23456"}], "currency": "EUR"},
     {"line_items[0].unit_price"}),
    ({"line_items": [{"sku": "", "qty": 1, "unit_price": "1"}], "currency": "EUR"},
     {"line_items[0].sku"}),
    ({"line_items": [{"sku": "s" * 129, "qty": 1, "unit_price": "1"}], "currency": "EUR"},
     {"line_items[0].sku"}),
    ({"line_items": [{"sku": 5, "qty": 1, "unit_price": "1"}], "currency": "EUR"},
     {"line_items[0].sku"}),
    ({"line_items": [{"sku": "a", "qty": 1, "unit_price": "1", "color": "red"}],
      "currency": "EUR"}, {"line_items[0].color"}),
    ({"line_items": [{"qty": 1, "unit_price": "1"}], "currency": "EUR"}, {"line_items[0].sku"}),
    ({"line_items": [5, {"sku": "b", "qty": 1, "unit_price": "1"}], "currency": "EUR"},
     {"line_items[0]"}),
    ({"line_items": [{"sku": f"s{i}", "qty": 1, "unit_price": "1"} for i in range(101)],
      "currency": "EUR"}, {"line_items"}),
    ({"line_items": [{"sku": "a", "qty": 10000, "unit_price": "999999999999999.9999"}],
      "currency": "EUR"}, {"total_amount"}),
    ({"line_items": [{"sku": "a", "qty": 0, "unit_price": "x"},
                     {"sku": "b", "qty": 1, "unit_price": "1", "z": 1}],
      "currency": "eu", "reference": LONG, "extra": True},
     {"line_items[0].qty", "line_items[0].unit_price", "line_items[1].z", "currency",
      "reference", "extra"}),
    ([], {"body"}),
]


def test_validation_and_http_errors(broker, db_url, db):
    svc = start(broker, db_url)
    try:
        tok = token("t_acme")
        for body, fields in BAD_BODIES:
            r = post(svc, body, tok)
            assert r.status_code == 422, (body, r.text)
            err = r.json()["error"]
            assert err["code"] == "validation_failed" and err["message"]
            assert {f["field"] for f in err["fields"]} == fields, (body, err)
            assert all(f["reason"] for f in err["fields"])
        # Limits that are just inside pass.
        ok = {"line_items": [{"sku": "s" * 128, "qty": 10000, "unit_price": "0"}] +
              [{"sku": f"s{i}", "qty": 1, "unit_price": "0.0001"} for i in range(99)],
              "currency": "XTS", "reference": "r" * 256}
        r = post(svc, ok, tok)
        assert r.status_code == 201, r.text
        assert r.json()["total_amount"] == "0.0099"
        for raw in ("{", "", "nul", '{"currency":"EUR","currency":"USD"}'):
            r = post(svc, None, tok, raw=raw)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", raw
        big = json.dumps(dict(ORDER, reference="x" * (1100 * 1024)))
        assert post(svc, None, tok, raw=big).status_code == 413
        for bad_tok in (None, "garbage", token("t_acme", secret="another-secret-0123456789"),
                        token("t_acme", exp_in=-3600), token(None)):
            h = {"Authorization": f"Bearer {bad_tok}"} if bad_tok else {}
            for method, path in (("POST", "/api/orders"), ("GET", "/api/orders"),
                                 ("GET", "/api/orders/ord_x"),
                                 ("POST", "/api/orders/ord_x/cancel")):
                r = requests.request(method, svc.url + path, headers=h, data=json.dumps(ORDER),
                                     timeout=10)
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["error"]["code"] == "unauthorized"
        assert db.scalar("SELECT COUNT(*) FROM order_orders") == 1
        assert svc.alive()
    finally:
        assert svc.stop() == 0


def test_tenant_isolation_and_pagination(broker, db_url, db):
    svc = start(broker, db_url)
    try:
        a, b = token("t_a"), token("t_b")
        ids = [post(svc, dict(ORDER, reference=f"R{i}"), a).json()["order_id"] for i in range(7)]
        b_id = post(svc, ORDER, b).json()["order_id"]
        assert get(svc, f"/api/orders/{ids[0]}", b).status_code == 404
        assert get(svc, f"/api/orders/{b_id}", a).status_code == 404
        assert action(svc, ids[0], "cancel", b).status_code == 404
        assert get(svc, "/api/orders/ord_nope", a).status_code == 404
        seen, cursor, pages = [], None, 0
        while True:
            path = "/api/orders?limit=3" + (f"&cursor={cursor}" if cursor else "")
            r = get(svc, path, a)
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [o["order_id"] for o in page["orders"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and seen == list(reversed(ids))
        default = get(svc, "/api/orders", a).json()
        assert [o["order_id"] for o in default["orders"]] == list(reversed(ids))
        assert default["next_cursor"] is None
        assert [o["order_id"] for o in get(svc, "/api/orders", b).json()["orders"]] == [b_id]
        assert action(svc, ids[2], "cancel", a).json()["status"] == "cancelled"
        only = get(svc, "/api/orders?status=cancelled", a).json()["orders"]
        assert [o["order_id"] for o in only] == [ids[2]]
        assert get(svc, "/api/orders?status=cancelled", b).json()["orders"] == []
        for q in ("limit=0", "limit=201", "limit=x", "limit=-1", "cursor=zz", "cursor=",
                  "status=shipped", "cursor=" + "0" * 16):
            r = get(svc, "/api/orders?" + q, a)
            assert r.status_code == 400, (q, r.text)
        assert get(svc, "/api/orders?limit=200", a).status_code == 200
    finally:
        assert svc.stop() == 0


def test_payment_and_inventory_drive_the_states(broker, db_url, db, tmp_path):
    svc = start(broker, db_url)
    reader = Reader(broker.bootstrap)
    p = Producer(broker.bootstrap)
    try:
        tok, staff, clerk = token("t_acme"), token("t_acme", roles=("Staff",)), token("t_acme", roles=())
        new = lambda: post(svc, ORDER, tok).json()["order_id"]  # noqa: E731
        happy, declined, early, short, cancelled = new(), new(), new(), new(), new()
        reader.wait(lambda r: all(statuses(r, o) == ["created"]
                                  for o in (happy, declined, early, short, cancelled)),
                    what="five order_created")
        pay_trace = uuid.uuid4().hex
        p.send("payments.completed", payment(happy, "t_acme"), key=happy,
               headers={"traceparent": f"00-{pay_trace}-{'2' * 16}-01"})
        p.send("payments.completed", payment(declined, "t_acme", "failed"), key=declined)
        for sku in ("SKU-1", "SKU-2"):  # inventory before the payment
            p.send("inventory.updated", stock(early, "t_acme", sku), key=sku)
        p.send("payments.completed", payment(short, "t_acme"), key=short)
        p.flush()
        reader.wait(lambda r: statuses(r, happy)[-1:] == ["paid"], what="order_paid")
        reader.wait(lambda r: statuses(r, short)[-1:] == ["paid"], what="short paid")
        assert statuses(reader, early) == ["created"]  # kept until the payment
        p.send("inventory.updated", stock(happy, "t_acme", "SKU-1"), key="SKU-1")
        p.send("inventory.updated", stock(short, "t_acme", "SKU-2", "out_of_stock"), key="SKU-2")
        p.send("payments.completed", payment(early, "t_acme"), key=early)
        p.flush()
        reader.wait(lambda r: statuses(r, early) == ["created", "paid", "reserved"], what="early")
        reader.wait(lambda r: statuses(r, short) == ["created", "paid", "out_of_stock"], what="oos")
        assert statuses(reader, happy) == ["created", "paid"]  # one of two skus reserved
        p.send("inventory.updated", stock(happy, "t_acme", "SKU-2"), key="SKU-2")
        # Redelivered records change nothing.
        p.send("payments.completed", payment(happy, "t_acme"), key=happy)
        p.send("payments.completed", payment(declined, "t_acme", "failed"), key=declined)
        p.send("inventory.updated", stock(happy, "t_acme", "SKU-1"), key="SKU-1")
        p.send("payments.completed", payment(cancelled, "t_acme"), key=cancelled)
        p.flush()
        reader.wait(lambda r: statuses(r, happy) == ["created", "paid", "reserved"], what="reserved")
        reader.wait(lambda r: statuses(r, declined) == ["created", "payment_failed"], what="failed")
        reader.wait(lambda r: statuses(r, cancelled)[-1:] == ["paid"], what="cancelled paid")
        assert action(svc, cancelled, "cancel", tok).json()["status"] == "cancelled"
        assert action(svc, declined, "cancel", tok).status_code == 409
        assert action(svc, happy, "fulfill", clerk).status_code == 403
        assert action(svc, short, "fulfill", staff).status_code == 409
        r = action(svc, happy, "fulfill", staff)
        assert r.status_code == 200 and r.json()["status"] == "fulfilled"
        assert action(svc, happy, "fulfill", staff).status_code == 409
        assert action(svc, happy, "cancel", tok).status_code == 409
        reader.wait(lambda r: statuses(r, happy)[-1:] == ["fulfilled"], what="fulfilled")
        reader.wait(lambda r: statuses(r, cancelled)[-1:] == ["cancelled"], what="cancelled")
        wait_published(svc, db, 0)
        wait_until(lambda: svc.metric("orderpulse_order_messages_duplicate_total") >= 3, 30,
                   "duplicates counted")
        reader.poll()
        assert statuses(reader, happy) == ["created", "paid", "reserved", "fulfilled"]
        assert statuses(reader, declined) == ["created", "payment_failed"]
        paid = reader.of("orders.events", happy)[1]
        assert paid["event_type"] == "order_paid"
        updated = reader.of("orders.events", happy)[2]
        assert updated["event_type"] == "order_status_updated"
        for m in reader.msgs:
            if m.topic() == "orders.events" and json.loads(m.value())["event_id"] == paid["event_id"]:
                assert dict(m.headers())["traceparent"].decode().startswith(f"00-{pay_trace}-")
        audits = reader.of("orders.audit", happy)
        assert [(a["from_status"], a["to_status"]) for a in audits] == [
            (None, "created"), ("created", "paid"), ("paid", "reserved"), ("reserved", "fulfilled")]
        assert audits[1]["actor"] == "payment" and audits[2]["actor"] == "inventory"
        for a in reader.of("orders.audit"):
            assert not list(VALIDATORS["orders.audit"].iter_errors(a))
        validate_with_c([m.value().decode() for m in reader.msgs
                         if m.topic() == "orders.events"], tmp_path)
        assert get(svc, f"/api/orders/{happy}", tok).json()["status"] == "fulfilled"
        assert svc.metric('orderpulse_order_transitions_total{to="paid"}') == 4
    finally:
        reader.close()
        assert svc.stop() == 0


def test_unreadable_messages_go_to_the_dlq(broker, db_url, db):
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    try:
        tok = token("t_acme")
        oid = post(svc, ORDER, tok).json()["order_id"]
        good = payment(oid, "t_acme")
        bad = [
            ("payments.completed", b"not json", "invalid_json"),
            ("payments.completed", b"[1]", "not_an_object"),
            ("payments.completed", {k: v for k, v in good.items() if k != "payment_id"},
             "missing_field"),
            ("payments.completed", dict(good, state="maybe"), "invalid_state"),
            ("payments.completed", dict(good, state="failed"), "missing_field"),
            ("payments.completed", dict(good, amount=20.25), "wrong_type"),
            ("payments.completed", dict(good, currency="eur"), "invalid_currency"),
            ("payments.completed", dict(good, processed_at="yesterday"), "invalid_timestamp"),
            ("payments.completed", dict(good, trace_id="XYZ"), "invalid_trace_id"),
            ("payments.completed", dict(good, order_id="ord_unknown"), "unknown_order"),
            ("payments.completed", dict(good, tenant_id="t_evil"), "tenant_mismatch"),
            ("inventory.updated", b"{", "invalid_json"),
            ("inventory.updated", dict(stock(oid, "t_acme", "SKU-1"), delta="1"), "wrong_type"),
            ("inventory.updated", dict(stock(oid, "t_acme", "SKU-1"), state="lost"),
             "invalid_state"),
        ]
        for topic, value, _ in bad:
            p.send(topic, value, key=oid)
        p.send("payments.completed", good, key=oid)
        p.flush()
        pay_dlq = [b for b in bad if b[0] == "payments.completed"]
        got = consume_all(broker.bootstrap, "payments.completed.dlq", len(pay_dlq), timeout=60)
        assert sorted(dict(m.headers())["error"].decode() for m in got) == \
            sorted(r for _, _, r in pay_dlq)
        for m in got:
            h = dict(m.headers())
            assert h["source_topic"] == b"payments.completed" and "source_offset" in h
        inv = consume_all(broker.bootstrap, "inventory.updated.dlq", 3, timeout=60)
        assert sorted(dict(m.headers())["error"].decode() for m in inv) == \
            ["invalid_json", "invalid_state", "wrong_type"]
        wait_until(lambda: get(svc, f"/api/orders/{oid}", tok).json()["status"] == "paid", 30,
                   "the valid payment applied after the bad ones")
        assert svc.alive()
    finally:
        assert svc.stop() == 0


def test_kill9_during_a_burst_loses_and_doubles_nothing(broker, db_url, db):
    svc = start(broker, db_url)
    tok = token("t_burst")
    answered, lock = [], threading.Lock()
    stop = threading.Event()

    def client(n):
        for i in range(n):
            if stop.is_set():
                return
            try:
                r = post(svc, dict(ORDER, reference=f"B{i}"), tok)
            except requests.RequestException:
                continue
            if r.status_code == 201:
                with lock:
                    answered.append(r.json()["order_id"])

    threads = [threading.Thread(target=client, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(answered) >= 40, 60, "40 orders answered")
    svc.kill9()
    stop.set()
    print("outbox rows left by the kill:", db.scalar("SELECT COUNT(*) FROM order_outbox"))
    for t in threads:
        t.join(timeout=60)
    svc2 = Service("order", broker, db_url, name="order2")
    reader = Reader(broker.bootstrap)
    try:
        more = [post(svc2, dict(ORDER, reference=f"C{i}"), tok) for i in range(200 - len(answered))]
        assert all(r.status_code == 201 for r in more)
        stored = {row[0] for row in db.query("SELECT order_id FROM order_orders")}
        assert set(answered) <= stored and len(stored) >= 200
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM order_outbox") == 0, 60, "outbox empty")

        def complete(r):
            ids = {t: {m.key().decode() for m in r.msgs if m.topic() == t} for t in OUT_TOPICS}
            return all(ids[t] >= stored for t in OUT_TOPICS)
        reader.wait(complete, timeout=90, what="every stored order's three messages")
        for t in OUT_TOPICS:
            keys = {m.key().decode() for m in reader.msgs if m.topic() == t}
            assert keys == stored, t  # nothing published for an order that was not stored
        events = reader.of("orders.events")
        by_order = {}
        for e in events:
            by_order.setdefault(e["order_id"], set()).add(e["event_id"])
        # Duplicates on Kafka only as the same event (same event_id): one event per order.
        assert all(len(v) == 1 for v in by_order.values())
        assert len(by_order) == len(stored)
        audits = {}
        for a in reader.of("orders.audit"):
            audits.setdefault(a["order_id"], set()).add(a["event_id"])
        assert all(len(v) == 1 for v in audits.values()) and len(audits) == len(stored)
    finally:
        reader.close()
        assert svc2.stop() == 0


def test_help_and_configuration_errors():
    out = run(["order", "--help"])
    assert out.returncode == 0 and out.stdout.startswith("usage: orderpulse order")
    assert "order-service" in out.stdout
    for secret in ("", "short"):
        out = run(["order"], env={"JWT_SECRET": secret}, timeout=20)
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "JWT_SECRET" in lines[0], out.stderr
