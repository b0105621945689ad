"""orderpulse payment: orders.created -> one stored outcome per order -> payments.completed.

Each test runs the real binary against `orderpulse broker`, produces orders.created with an
independent Kafka client (messages built to contracts/orders.created.schema.json), and checks
every payments.completed against contracts/payments.completed.schema.json, on SQLite and
PostgreSQL. The simulated gateway's rule makes outcomes deterministic: an amount ending in .13
is declined (card_declined), one ending in .99 fails transiently twice and then succeeds.
"""
import json
import pathlib
import time
import uuid

from jsonschema import Draft7Validator, RefResolver

from harness import Producer, Service, consume_all, run, wait_until

IN = "orders.created"
OUT = "payments.completed"
CONTRACTS = pathlib.Path(__file__).resolve().parents[2] / "contracts"
STORE = {p.name: json.loads(p.read_text()) for p in CONTRACTS.glob("*.schema.json")}


def validator(topic):
    schema = STORE[f"{topic}.schema.json"]
    resolver = RefResolver(base_uri=schema["$id"], referrer=schema, store=STORE)
    return Draft7Validator(schema, resolver=resolver)


ORDER_SCHEMA = validator(IN)
PAYMENT_SCHEMA = validator(OUT)


def new_trace():
    return uuid.uuid4().hex


def order(total, tenant="t_acme", order_id=None, trace_id=None):
    body = {
        "order_id": order_id or "ord_" + uuid.uuid4().hex[:12],
        "tenant_id": tenant,
        "user_id": "u_7",
        "line_items": [{"sku": "SKU-1", "qty": 1, "unit_price": total}],
        "total_amount": total,
        "currency": "EUR",
        "reference": "A-1001",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
    }
    if trace_id:
        body["trace_id"] = trace_id
    ORDER_SCHEMA.validate(body)
    return body


def produce(broker, orders, traces=None):
    """Produces each order keyed by order_id; traces: order_id -> trace id for a
    traceparent header (orders not in it go without one)."""
    p = Producer(broker.bootstrap)
    for o in orders:
        trace = (traces or {}).get(o["order_id"])
        headers = [("traceparent", f"00-{trace}-{uuid.uuid4().hex[:16]}-01".encode())] \
            if trace else None
        p.send(IN, o, key=o["order_id"].encode(), headers=headers)
    p.flush()


class Collector:
    """A consumer of payments.completed that keeps reading across waits."""

    def __init__(self, broker):
        from confluent_kafka import Consumer
        self.c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.c.subscribe([OUT])
        self.msgs = []

    def poll(self):
        while True:
            m = self.c.poll(0.2)
            if m is None:
                return
            if not m.error():
                self.msgs.append(m)

    def by_order(self):
        out = {}
        for m in self.msgs:
            out.setdefault(m.key().decode(), []).append(m)
        return out

    def wait_orders(self, order_ids, timeout=60):
        want = set(order_ids)

        def done():
            self.poll()
            return want <= set(self.by_order())
        wait_until(done, timeout, f"payments.completed for {len(want)} orders", interval=0.01)
        return self.by_order()

    def close(self):
        self.c.close()


def payment(msg):
    """The decoded, contract-checked value of one payments.completed message."""
    body = json.loads(msg.value())
    PAYMENT_SCHEMA.validate(body)
    assert msg.key().decode() == body["order_id"]
    headers = dict(msg.headers() or [])
    tp = headers["traceparent"].decode()
    assert tp.startswith("00-") and len(tp) == 55
    assert tp[3:35] == body["trace_id"], "the header carries the trace of the JSON field"
    return body


def start(broker, db_url, **env):
    return Service("payment", broker, db_url, extra_env={k: str(v) for k, v in env.items()})


def test_outcomes_follow_the_rule_and_the_contract(broker, db_url, db):
    plain = [order(f"{n}.50") for n in range(1, 11)]
    declined = [order("10.13"), order("7.130")]
    retried = [order("42.99"), order("1.99")]
    all_orders = plain + declined + retried
    traces = {o["order_id"]: new_trace() for o in all_orders[::2]}
    body_trace = order("5.00", trace_id=new_trace())  # trace only in the JSON field
    all_orders.append(body_trace)
    svc = start(broker, db_url)
    col = Collector(broker)
    try:
        produce(broker, all_orders, traces)
        got = col.wait_orders([o["order_id"] for o in all_orders])
        for o in all_orders:
            msgs = got[o["order_id"]]
            assert len(msgs) == 1, o["order_id"]
            p = payment(msgs[0])
            assert (p["tenant_id"], p["amount"], p["currency"]) == \
                (o["tenant_id"], o["total_amount"], o["currency"])
            if o["order_id"] in traces:
                assert p["trace_id"] == traces[o["order_id"]]
            if o in declined:
                assert (p["state"], p["reason"]) == ("failed", "card_declined")
            else:
                assert p["state"] == "succeeded" and "reason" not in p, p
        assert payment(got[body_trace["order_id"]][0])["trace_id"] == body_trace["trace_id"]
        no_trace = [o for o in all_orders if o["order_id"] not in traces and o is not body_trace]
        fresh = {payment(got[o["order_id"]][0])["trace_id"] for o in no_trace}
        assert len(fresh) == len(no_trace), "an order without a trace starts its own"
        for o in retried:
            assert db.scalar("SELECT attempts FROM payment_payments WHERE order_id = ?",
                             (o["order_id"],)) == 3
        m = svc.metrics()
        assert m['orderpulse_payment_attempts_total{result="transient"}'] == 2 * len(retried)
        assert svc.metric("orderpulse_payment_attempts_total") >= len(all_orders) + 2 * len(retried)
        assert m['orderpulse_payments_total{state="succeeded"}'] == len(all_orders) - len(declined)
        assert m['orderpulse_payments_total{state="failed"}'] == len(declined)
        assert m["orderpulse_payment_gateway_seconds_count"] == \
            len(all_orders) + 2 * len(retried)
        assert db.scalar("SELECT COUNT(*) FROM payment_payments") == len(all_orders)
        assert db.scalar("SELECT COUNT(DISTINCT payment_id) FROM payment_payments") == \
            len(all_orders)
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_failure_rate_one_declines_every_order(broker, db_url, db):
    orders = [order(f"{n}.00") for n in range(1, 21)]
    svc = start(broker, db_url, PAYMENT_FAILURE_RATE="1")
    col = Collector(broker)
    try:
        produce(broker, orders)
        got = col.wait_orders([o["order_id"] for o in orders])
        for o in orders:
            p = payment(got[o["order_id"]][0])
            assert (p["state"], p["reason"]) == ("failed", "card_declined")
        assert svc.metrics()['orderpulse_payments_total{state="failed"}'] == len(orders)
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_gateway_unavailable_after_max_attempts(broker, db_url, db):
    # With at most 2 attempts, a .99 order (transient twice) fails; another succeeds.
    flaky, fine = order("6.99"), order("6.00")
    svc = start(broker, db_url, PAYMENT_MAX_ATTEMPTS="2")
    col = Collector(broker)
    try:
        produce(broker, [flaky, fine])
        got = col.wait_orders([flaky["order_id"], fine["order_id"]])
        p = payment(got[flaky["order_id"]][0])
        assert (p["state"], p["reason"]) == ("failed", "gateway_unavailable")
        assert payment(got[fine["order_id"]][0])["state"] == "succeeded"
        assert db.scalar("SELECT attempts FROM payment_payments WHERE order_id = ?",
                         (flaky["order_id"],)) == 2
        assert svc.metrics()['orderpulse_payment_attempts_total{result="transient"}'] == 2
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_redelivered_order_gets_the_same_outcome(broker, db_url, db):
    first = [order("3.00"), order("10.13"), order("8.99")]
    svc = start(broker, db_url)
    col = Collector(broker)
    try:
        # Twice in a row (one batch, most likely), then again once decided.
        produce(broker, first + first)
        col.wait_orders([o["order_id"] for o in first])
        wait_until(lambda: db.scalar(
            "SELECT COUNT(*) FROM payment_payments WHERE state <> 'pending'") == 3, 30, "decided")
        produce(broker, first)

        def three_each():
            col.poll()
            return all(len(col.by_order().get(o["order_id"], [])) >= 2 for o in first) and \
                svc.metric("orderpulse_payments_redelivered_total") >= 3
        wait_until(three_each, 30, "re-emitted outcomes")
        col.poll()
        for o in first:
            msgs = col.by_order()[o["order_id"]]
            values = {m.value() for m in msgs}
            assert len(values) == 1, "every emission of an order is the same bytes"
            payment(msgs[0])
        assert db.scalar("SELECT COUNT(*) FROM payment_payments") == 3
        assert db.scalar("SELECT attempts FROM payment_payments WHERE order_id = ?",
                         (first[2]["order_id"],)) == 3
        m = svc.metrics()
        assert m['orderpulse_payment_attempts_total{result="transient"}'] == 2, \
            "a redelivered order is never charged again"
        assert m['orderpulse_payments_total{state="succeeded"}'] == 2
        assert m['orderpulse_payments_total{state="failed"}'] == 1
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_kill9_mid_burst_every_order_has_exactly_one_outcome(broker, db_url, db):
    totals = ["12.00", "10.13", "4.99", "7.25", "100.00"]
    orders = [order(totals[i % len(totals)], tenant=f"t_{i % 7}") for i in range(300)]
    # A little gateway latency so that the kill lands mid-burst.
    env = {"PAYMENT_LATENCY_MS": "5", "CONSUMER_BATCH_SIZE": "20"}
    svc = start(broker, db_url, **env)
    col = Collector(broker)
    try:
        produce(broker, orders)
        wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM payment_payments") or 0) >= 40, 60,
                   "progress before the kill", interval=0.01)
        svc.kill9()
        assert (db.scalar("SELECT COUNT(*) FROM payment_payments") or 0) < len(orders)
        svc = Service("payment", broker, db_url, extra_env=env, wait=False)
        svc.wait_ready(timeout=30)
        got = col.wait_orders([o["order_id"] for o in orders], timeout=180)
        wait_until(lambda: db.scalar(
            "SELECT COUNT(*) FROM payment_payments WHERE state = 'pending' OR emitted = 0") == 0,
            60, "no pending payment")
        col.poll()
        got = col.by_order()
        assert set(got) == {o["order_id"] for o in orders}
        payment_ids = set()
        for o in orders:
            bodies = [payment(m) for m in got[o["order_id"]]]
            outcomes = {(b["payment_id"], b["state"], b.get("reason"), b["processed_at"])
                        for b in bodies}
            assert len(outcomes) == 1, (o["order_id"], outcomes)
            pid, state, reason, _ = outcomes.pop()
            payment_ids.add(pid)
            want = ("failed", "card_declined") if o["total_amount"] == "10.13" else \
                ("succeeded", None)
            assert (state, reason) == want
        assert len(payment_ids) == len(orders)
        rows = dict(db.query("SELECT order_id, payment_id FROM payment_payments"))
        assert rows == {k: payment(v[0])["payment_id"] for k, v in got.items()}
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def garbage():
    """(value, reason) for bad orders.created of many kinds."""
    base = order("9.00")

    def variant(mutate):
        o = json.loads(json.dumps(base))
        o["order_id"] = "ord_bad_" + uuid.uuid4().hex[:8]
        mutate(o)
        return json.dumps(o).encode()

    return [
        (b"not json at all", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1,2]", "not_an_object"),
        (b'{"order_id":"a","order_id":"b"}', "duplicate_key"),
        (variant(lambda o: o.pop("tenant_id")), "missing_field"),
        (variant(lambda o: o.pop("line_items")), "missing_field"),
        (variant(lambda o: o.update(order_id=42)), "wrong_type"),
        (variant(lambda o: o.update(total_amount=9.0)), "wrong_type"),
        (variant(lambda o: o.update(total_amount="9,00")), "invalid_amount"),
        (variant(lambda o: o.update(total_amount="1.23456")), "invalid_amount"),
        (variant(lambda o: o["line_items"][0].update(unit_price="abc")), "invalid_amount"),
        (variant(lambda o: o["line_items"][0].update(qty=0)), "invalid_qty"),
        (variant(lambda o: o.update(line_items=[])), "invalid_line_items"),
        (variant(lambda o: o.update(currency="eur")), "invalid_currency"),
        (variant(lambda o: o.update(created_at="yesterday")), "invalid_timestamp"),
        (variant(lambda o: o.update(tenant_id="")), "invalid_id"),
        (variant(lambda o: o.update(trace_id="XYZ")), "invalid_trace_id"),
    ]


def test_garbage_goes_to_the_dlq_and_the_next_order_is_paid(broker, db_url, db):
    bad = garbage()
    good = order("21.00")
    p = Producer(broker.bootstrap)
    for i, (value, _) in enumerate(bad):
        p.send(IN, value, key=f"bad-{i}".encode())
    p.send(IN, good, key=good["order_id"].encode())
    p.flush()
    svc = start(broker, db_url)
    col = Collector(broker)
    try:
        got = col.wait_orders([good["order_id"]])
        assert payment(got[good["order_id"]][0])["state"] == "succeeded"
        dlq = consume_all(broker.bootstrap, IN + ".dlq", len(bad), timeout=30)
        assert len(dlq) == len(bad)
        expected = {f"bad-{i}".encode(): (v, r) for i, (v, r) in enumerate(bad)}
        for m in dlq:
            headers = {k: v.decode() for k, v in (m.headers() or [])}
            value, reason = expected.pop(m.key())
            assert m.value() == value, "the DLQ keeps the original bytes"
            assert headers["error"] == reason, (m.key(), headers)
            assert headers["source_partition"].isdigit() and headers["source_offset"].isdigit()
        assert not expected
        assert svc.metric("orderpulse_events_dead_lettered_total") == len(bad)
        assert db.scalar("SELECT COUNT(*) FROM payment_payments") == 1
        assert svc.alive()
    finally:
        col.close()
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_bad_payment_settings_are_one_line_and_exit_2():
    for name, value in [("PAYMENT_FAILURE_RATE", "1.5"), ("PAYMENT_FAILURE_RATE", "often"),
                        ("PAYMENT_FAILURE_RATE", "-0.1"), ("PAYMENT_FAILURE_RATE", ""),
                        ("PAYMENT_LATENCY_MS", "-1"), ("PAYMENT_MAX_ATTEMPTS", "0")]:
        out = run(["payment"], env={name: value}, timeout=20)
        assert out.returncode == 2, (name, value, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], out.stderr
    out = run(["payment", "--help"])
    assert out.returncode == 0 and out.stdout.startswith("usage: orderpulse payment")
