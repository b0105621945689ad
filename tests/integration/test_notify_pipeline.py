"""orderpulse notify: from orders.events to durable, deduplicated storage.

Each test runs the real binary against `orderpulse broker`, produces with an
independent Kafka client, and checks the store on SQLite and PostgreSQL.
"""
import json
import random
import uuid

from harness import Notify, Producer, consume_all, order_event, wait_until

TOPIC = "orders.events"


def produce_events(broker, events):
    p = Producer(broker.bootstrap)
    for ev in events:
        p.send(TOPIC, ev, key=ev["order_id"].encode())
    p.flush()


def assert_stored_exactly_once(db, events):
    ids = {e["event_id"] for e in events}
    assert db.scalar("SELECT COUNT(*) FROM event_records") == len(ids)
    assert db.scalar("SELECT COUNT(*) FROM tenant_log") == len(ids)
    assert db.scalar("SELECT COUNT(DISTINCT event_id) FROM tenant_log") == len(ids)
    # Positions per tenant are exactly 1..n: no gap, no duplicate.
    for tenant, n, lo, hi in db.query(
            "SELECT tenant_id, COUNT(*), MIN(pos), MAX(pos) FROM tenant_log GROUP BY tenant_id"):
        assert (lo, hi) == (1, n), f"tenant {tenant}: positions {lo}..{hi} for {n} events"
    expected = {}
    for e in events:
        expected[e["tenant_id"]] = expected.get(e["tenant_id"], 0) + 1
    got = dict(db.query("SELECT tenant_id, COUNT(*) FROM tenant_log GROUP BY tenant_id"))
    assert got == expected


def wait_stored(db, n, timeout=120):
    wait_until(lambda: db.scalar("SELECT COUNT(*) FROM tenant_log") == n, timeout,
               f"{n} events stored")


def make_events(tenants, orders_per_tenant, per_order):
    """Events of many orders; each order goes created -> paid -> status updates."""
    events = []
    for t in range(tenants):
        for o in range(orders_per_tenant):
            order = f"ord_{t}_{o}_{uuid.uuid4().hex[:6]}"
            for k in range(per_order):
                kind = "order_created" if k == 0 else "order_paid" if k == 1 else \
                    "order_status_updated"
                status = {"order_created": "created", "order_paid": "paid"}.get(kind, f"s{k}")
                events.append(order_event(f"t_{t:02d}", order, kind, status, seq=k))
    return events


def interleave(events):
    """Shuffles orders together while keeping each order's own event order."""
    by_order = {}
    for e in events:
        by_order.setdefault(e["order_id"], []).append(e)
    queues = list(by_order.values())
    random.Random(7).shuffle(queues)
    out = []
    while queues:
        q = random.Random(len(out)).choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
    return out


def test_10k_events_over_50_tenants_stored_exactly_once(broker, db_url, db):
    events = interleave(make_events(50, 50, 4))
    assert len(events) == 10_000
    notify = Notify(broker, db_url)
    try:
        produce_events(broker, events)
        wait_stored(db, len(events))
        assert_stored_exactly_once(db, events)
        assert db.scalar("SELECT COUNT(*) FROM order_view") == 2500
        wait_until(lambda: notify.metric("orderpulse_events_stored_total") == 10_000, 10,
                   "stored counter")
        assert notify.metric("orderpulse_events_consumed_total") == 10_000
        assert notify.metric("orderpulse_events_duplicate_total") == 0
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_500_republished_duplicates_change_nothing(broker, db_url, db):
    events = make_events(10, 25, 4)
    notify = Notify(broker, db_url)
    try:
        produce_events(broker, events)
        wait_stored(db, len(events))
        before = db.query("SELECT tenant_id, pos, event_id FROM tenant_log ORDER BY 1, 2")
        views = db.query("SELECT tenant_id, order_id, status, last_pos FROM order_view ORDER BY 1, 2")
        dups = random.Random(3).sample(events, 500)
        produce_events(broker, dups)
        wait_until(lambda: notify.metric("orderpulse_events_duplicate_total") == 500, 60,
                   "500 duplicates seen")
        assert db.query("SELECT tenant_id, pos, event_id FROM tenant_log ORDER BY 1, 2") == before
        assert db.query(
            "SELECT tenant_id, order_id, status, last_pos FROM order_view ORDER BY 1, 2") == views
        assert_stored_exactly_once(db, events)
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


MALFORMED = [
    (b"not json at all", "invalid_json"),
    (b"[1,2,3]", "not_an_object"),
    (b"{\"event_id\": \"x\"", "invalid_json"),
]


def malformed_events():
    """20 bad events of many kinds, each with the reason the validator must give."""
    out = list(MALFORMED)
    base = order_event("t_bad", "ord_bad")

    def variant(mutate):
        e = json.loads(json.dumps(base))
        e["event_id"] = str(uuid.uuid4())
        mutate(e)
        return json.dumps(e).encode()

    out += [
        (variant(lambda e: e.pop("event_id")), "missing_field"),
        (variant(lambda e: e.pop("tenant_id")), "missing_field"),
        (variant(lambda e: e.pop("order_id")), "missing_field"),
        (variant(lambda e: e.pop("payload")), "missing_field"),
        (variant(lambda e: e.pop("timestamp")), "missing_field"),
        (variant(lambda e: e.update(event_type="order_exploded")), "unknown_event_type"),
        (variant(lambda e: e.update(tenant_id=42)), "wrong_type"),
        (variant(lambda e: e.update(order_id="")), "invalid_id"),
        (variant(lambda e: e.update(tenant_id="t" * 129)), "invalid_id"),
        (variant(lambda e: e["payload"].update(total_amount=129.9)), "wrong_type"),
        (variant(lambda e: e["payload"].update(total_amount="12.3.4")), "invalid_amount"),
        (variant(lambda e: e["payload"].update(currency="eur")), "invalid_currency"),
        (variant(lambda e: e.update(timestamp="yesterday")), "invalid_timestamp"),
        (variant(lambda e: e.update(payload="paid")), "wrong_type"),
        (variant(lambda e: e.update(schema_version=2)), "unsupported_schema_version"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b"", "invalid_json"),
    ]
    assert len(out) == 20
    return out


def test_malformed_events_go_to_dlq_with_headers(broker, db_url, db):
    good = make_events(5, 20, 2)
    bad = malformed_events()
    p = Producer(broker.bootstrap)
    mixed = [(e["order_id"].encode(), json.dumps(e).encode(), None) for e in good]
    for i, (value, reason) in enumerate(bad):
        mixed.insert(i * 9, (f"bad-key-{i}".encode(), value, reason))
    for key, value, _ in mixed:
        p.send(TOPIC, value, key=key)
    p.flush()
    notify = Notify(broker, db_url)
    try:
        wait_stored(db, len(good))
        dlq = consume_all(broker.bootstrap, TOPIC + ".dlq", len(bad), timeout=30)
        assert len(dlq) == len(bad)
        expected = {key: (value, reason) for key, value, reason in mixed if reason}
        for m in dlq:
            headers = {k: v.decode() for k, v in (m.headers() or [])}
            value, reason = expected.pop(m.key())
            assert m.value() == value, "DLQ value must be the original bytes"
            assert headers["error"] == reason, (m.key(), headers)
            assert headers["source_partition"].isdigit()
            assert headers["source_offset"].isdigit()
            assert headers.get("error_message")
        assert not expected
        assert_stored_exactly_once(db, good)
        assert notify.metric("orderpulse_events_dead_lettered_total") == len(bad)
        assert notify.alive()
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_kill9_three_times_during_20k_events(broker, db_url, db):
    events = interleave(make_events(40, 125, 4))
    assert len(events) == 20_000
    p = Producer(broker.bootstrap)
    notify = Notify(broker, db_url)
    chunk = len(events) // 4
    try:
        for round_ in range(3):
            for ev in events[round_ * chunk:(round_ + 1) * chunk]:
                p.send(TOPIC, ev, key=ev["order_id"].encode())
            p.flush()
            # Kill while it is consuming: after some, not all, of this chunk is stored.
            stored_before = db.scalar("SELECT COUNT(*) FROM tenant_log") or 0
            wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM tenant_log") or 0) > stored_before,
                       60, "progress before the kill", interval=0.01)
            notify.kill9()
            notify = Notify(broker, db_url, wait=False)
            notify.wait_ready(timeout=20)  # back and consuming within 15 s plus start-up
        for ev in events[3 * chunk:]:
            p.send(TOPIC, ev, key=ev["order_id"].encode())
        p.flush()
        wait_stored(db, len(events), timeout=180)
        assert_stored_exactly_once(db, events)
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_events_of_one_order_applied_in_kafka_order(broker, db_url, db):
    # 30 orders with 20 status changes each, interleaved across orders.
    events = []
    for o in range(30):
        order = f"ord_seq_{o}"
        for k in range(20):
            kind = "order_created" if k == 0 else "order_status_updated"
            events.append(order_event("t_seq", order, kind, f"step_{k:02d}", seq=k))
    events = interleave(events)
    notify = Notify(broker, db_url)
    try:
        produce_events(broker, events)
        wait_stored(db, len(events))
        rows = db.query("SELECT order_id, pos, body FROM tenant_log ORDER BY pos")
        steps = {}
        for order, _pos, body in rows:
            steps.setdefault(order, []).append(json.loads(body)["payload"]["status"])
        for order, seen in steps.items():
            assert seen == [f"step_{k:02d}" for k in range(20)], order
        final = dict(db.query("SELECT order_id, status FROM order_view"))
        assert final == {f"ord_seq_{o}": "step_19" for o in range(30)}
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]
