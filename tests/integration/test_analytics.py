"""orderpulse analytics: every topic in, per-tenant aggregates out.

Each test runs the real binary against `orderpulse broker`, produces messages
built to the contracts (each checked with jsonschema first) with an independent
Kafka client, and compares GET /api/analytics/summary with figures computed
here from what was produced. Both backends (fixture db_url).
"""
import datetime
import json
import pathlib
import uuid
from decimal import Decimal

import requests
from jsonschema import Draft7Validator, RefResolver

from harness import Producer, Service, consume_all, wait_until
from sse import token

ROOT = pathlib.Path(__file__).resolve().parents[2]
STORE = {p.name: json.loads(p.read_text()) for p in (ROOT / "contracts").glob("*.schema.json")}
TOPICS = ["orders.created", "orders.events", "orders.audit", "payments.completed",
          "inventory.updated", "notifications.events"]
KEYS = {"orders.created": "order_id", "orders.events": "order_id", "orders.audit": "order_id",
        "payments.completed": "order_id", "inventory.updated": "sku",
        "notifications.events": "user_id", "analytics.aggregates": "tenant_id"}
THRESHOLD = 10


def validator(topic):
    schema = STORE[f"{topic}.schema.json"]
    return Draft7Validator(schema, resolver=RefResolver(schema["$id"], schema, store=STORE))


VALIDATORS = {t: validator(t) for t in TOPICS + ["analytics.aggregates"]}
BASE = datetime.datetime(2026, 11, 23, 10, 0, 0, tzinfo=datetime.timezone.utc)


def iso(ms):
    t = BASE + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def trace():
    return uuid.uuid4().hex


def nearest_rank(values, p):
    """The nearest-rank percentile: the value at rank ceil(p/100 * n)."""
    v = sorted(values)
    rank = max(1, -(-p * len(v) // 100))
    return v[rank - 1]


class Dataset:
    """Messages of one tenant built to the contracts, and the summary they imply."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.msgs = []  # (topic, dict)
        self.orders = 0
        self.revenue = {}
        self.succeeded = self.failed = 0
        self.latencies = []
        self.status = {}
        self.stock = {}

    def add(self, topic, body):
        errors = list(VALIDATORS[topic].iter_errors(body))
        assert not errors, f"test message breaks {topic}: {errors[0].message}"
        self.msgs.append((topic, body))

    def order(self, n, amount, currency, paid, latency_ms=0, later_status=None):
        oid = f"ord_{self.tenant}_{n}"
        t0 = n * 1000
        self.add("orders.created", {
            "order_id": oid, "tenant_id": self.tenant, "user_id": "u_1",
            "line_items": [{"sku": "SKU-1", "qty": 1, "unit_price": amount}],
            "total_amount": amount, "currency": currency, "created_at": iso(t0),
            "trace_id": trace()})
        self.orders += 1
        self.event(oid, "order_created", "created", t0)
        self.audit(oid, "created", None, "created", t0)
        state = "succeeded" if paid else "failed"
        pay = {"order_id": oid, "tenant_id": self.tenant, "payment_id": f"pay_{oid}",
               "state": state, "amount": amount, "currency": currency,
               "processed_at": iso(t0 + latency_ms), "trace_id": trace()}
        if not paid:
            pay["reason"] = "card_declined"
        self.add("payments.completed", pay)
        if paid:
            self.succeeded += 1
            self.revenue[currency] = self.revenue.get(currency, Decimal(0)) + Decimal(amount)
            self.event(oid, "order_paid", "paid", t0 + latency_ms)
            self.latencies.append(latency_ms)
            self.audit(oid, "paid", "created", "paid", t0 + latency_ms)
        else:
            self.failed += 1
            self.event(oid, "order_status_updated", "payment_failed", t0 + latency_ms)
        if later_status:
            self.event(oid, "order_status_updated", later_status, t0 + latency_ms + 5)

    def event(self, oid, kind, status, ms):
        self.add("orders.events", {
            "event_id": str(uuid.uuid4()), "event_type": kind, "order_id": oid,
            "tenant_id": self.tenant, "timestamp": iso(ms),
            "payload": {"status": status, "total_amount": "1.00", "currency": "EUR"}})
        self.status[oid] = status

    def audit(self, oid, action, frm, to, ms):
        self.add("orders.audit", {"order_id": oid, "tenant_id": self.tenant, "action": action,
                                  "from_status": frm, "to_status": to, "at": iso(ms),
                                  "trace_id": trace()})

    def inventory(self, sku, available, n):
        self.add("inventory.updated", {
            "sku": sku, "tenant_id": self.tenant, "order_id": f"ord_{self.tenant}_{n}",
            "delta": -1, "reservation_id": f"res_{self.tenant}_{sku}_{n}", "state": "reserved",
            "processed_at": iso(n), "trace_id": trace(), "available": available})
        self.stock[sku] = available

    def notification(self, n):
        self.add("notifications.events", {
            "notification_id": f"n_{self.tenant}_{n}", "tenant_id": self.tenant,
            "user_id": "u_1", "channel": "in_app", "template": "order_paid", "state": "sent",
            "order_id": f"ord_{self.tenant}_{n}", "sent_at": iso(n), "trace_id": trace()})

    def expected(self):
        by_status = {}
        for s in self.status.values():
            by_status[s] = by_status.get(s, 0) + 1
        total = self.succeeded + self.failed
        return {
            "tenant_id": self.tenant,
            "orders_total": self.orders,
            "orders_by_status": by_status,
            "revenue": {c: f"{v:.2f}" for c, v in self.revenue.items()},
            "payments": {"succeeded": self.succeeded, "failed": self.failed,
                         "success_rate": self.succeeded / total if total else None},
            "latency_ms": {"p50": nearest_rank(self.latencies, 50) if self.latencies else None,
                           "p95": nearest_rank(self.latencies, 95) if self.latencies else None},
            "low_stock_skus": sorted(s for s, a in self.stock.items() if a < THRESHOLD),
        }


def two_tenants():
    a, b = Dataset("t_alpha"), Dataset("t_beta")
    a.order(1, "129.90", "EUR", True, 120, later_status="reserved")
    a.order(2, "10.05", "EUR", True, 450)
    a.order(3, "99.13", "EUR", False, 30)
    a.order(4, "20.00", "USD", True, 3000, later_status="cancelled")
    a.order(5, "0.01", "USD", True, 80)
    a.order(6, "5.00", "EUR", True, 999)
    a.order(7, "1.13", "EUR", False, 10)
    for sku, avail, n in [("SKU-1", 3, 1), ("SKU-2", 50, 2), ("SKU-3", 12, 3), ("SKU-3", 5, 4),
                          ("SKU-4", 9, 5), ("SKU-4", 20, 6)]:
        a.inventory(sku, avail, n)
    a.notification(1)
    b.order(1, "1000.00", "GBP", True, 2500)
    b.order(2, "0.10", "GBP", True, 15, later_status="reserved")
    b.order(3, "7.13", "GBP", False, 40)
    for sku, avail, n in [("SKU-1", 40, 1), ("SKU-2", 0, 2)]:
        b.inventory(sku, avail, n)
    return a, b


def produce(broker, msgs, extra=()):
    p = Producer(broker.bootstrap)
    for topic, body in msgs:
        p.send(topic, body, key=str(body[KEYS[topic]]).encode())
    for topic, raw, key in extra:
        p.send(topic, raw, key=key)
    p.flush()


def summary(svc, tenant, tok=None):
    tok = tok or token(tenant)
    return requests.get(svc.url + "/api/analytics/summary",
                        headers={"Authorization": f"Bearer {tok}"}, timeout=10)


def comparable(body):
    body = dict(body)
    body.pop("updated_at", None)
    return body


def start(broker, db_url, **env):
    extra = {"ANALYTICS_LOW_STOCK_THRESHOLD": str(THRESHOLD)}
    extra.update(env)
    return Service("analytics", broker, db_url, extra_env=extra)


def wait_summary(svc, ds, timeout=60):
    want = ds.expected()
    last = {}

    def equal():
        r = summary(svc, ds.tenant)
        last["body"] = r.json() if r.status_code == 200 else r.status_code
        return r.status_code == 200 and comparable(r.json()) == want
    try:
        wait_until(equal, timeout, f"the summary of {ds.tenant}")
    except AssertionError:
        raise AssertionError(f"summary of {ds.tenant}:\n got {last.get('body')}\nwant {want}")


def wait_consumed(svc, n, timeout=60):
    wait_until(lambda: svc.metric("orderpulse_analytics_messages_total") >= n, timeout,
               f"{n} messages read")


def test_summary_equals_what_was_produced_and_tenants_are_isolated(broker, db_url):
    a, b = two_tenants()
    svc = start(broker, db_url)
    try:
        produce(broker, a.msgs + b.msgs)
        wait_summary(svc, a)
        wait_summary(svc, b)
        body = summary(svc, a.tenant).json()
        assert body["revenue"] == {"EUR": "144.95", "USD": "20.01"}
        assert body["low_stock_skus"] == ["SKU-1", "SKU-3"]
        assert body["updated_at"].endswith("Z")
        # A tenant with nothing: zeros and nulls, never another tenant's figures.
        empty = summary(svc, "t_gamma").json()
        assert empty == {"tenant_id": "t_gamma", "orders_total": 0, "orders_by_status": {},
                         "revenue": {}, "payments": {"succeeded": 0, "failed": 0,
                                                     "success_rate": None},
                         "latency_ms": {"p50": None, "p95": None}, "low_stock_skus": [],
                         "updated_at": None}
        # The tenant comes from the token only: a query parameter changes nothing.
        r = requests.get(svc.url + "/api/analytics/summary?tenant_id=t_alpha",
                         headers={"Authorization": f"Bearer {token('t_beta', roles=('Staff',))}"},
                         timeout=10)
        assert comparable(r.json()) == b.expected()
        total = len(a.msgs) + len(b.msgs)
        assert svc.metric("orderpulse_analytics_messages_total") == total
        m = svc.metrics()
        assert m['orderpulse_analytics_messages_total{topic="inventory.updated"}'] == 8
        assert m['orderpulse_analytics_messages_total{topic="notifications.events"}'] == 1
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_every_message_twice_gives_the_same_summary(broker, db_url):
    a, b = two_tenants()
    msgs = a.msgs + b.msgs
    svc = start(broker, db_url)
    try:
        produce(broker, msgs + msgs)
        wait_consumed(svc, 2 * len(msgs))
        wait_summary(svc, a, timeout=10)
        wait_summary(svc, b, timeout=10)
        assert svc.metric("orderpulse_analytics_duplicates_total") == len(msgs)
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_kill9_mid_stream_and_restart_loses_and_doubles_nothing(broker, db_url, db):
    a, b = two_tenants()
    # A backlog of a third tenant's orders, consumed in small batches, so that the kill lands
    # while batches are being applied and committed: 250 batches, seconds of work even on an
    # idle machine, and the kill comes after the first two.
    c = Dataset("t_gamma")
    for n in range(5000):
        c.add("orders.created", {
            "order_id": f"ord_c_{n}", "tenant_id": c.tenant,
            "line_items": [{"sku": "SKU-9", "qty": 1, "unit_price": "1.00"}],
            "total_amount": "1.00", "currency": "EUR", "created_at": iso(n)})
        c.orders += 1
    msgs = a.msgs + b.msgs
    half = len(msgs) // 2
    small = {"CONSUMER_BATCH_SIZE": "20"}
    # Everything is produced first: the consumer then goes at its own pace (a producer
    # slower than it would let it finish before the kill).
    produce(broker, msgs[:half] + c.msgs + msgs[half:])
    svc = start(broker, db_url, **small)
    wait_consumed(svc, half + 40)
    svc.kill9()
    done = db.scalar("SELECT orders_total FROM analytics_tenants WHERE tenant_id = 't_gamma'")
    assert (done or 0) < c.orders, "the kill came after the backlog: not mid-stream"
    svc = start(broker, db_url, **small)
    try:
        wait_summary(svc, c)
        wait_summary(svc, a)
        wait_summary(svc, b)
        # Nothing is left to redeliver, and what was redelivered changed nothing.
        wait_until(lambda: svc.metric("orderpulse_consumer_lag") == 0, 30, "no lag")
        for ds in (a, b, c):
            assert comparable(summary(svc, ds.tenant).json()) == ds.expected()
        assert db.scalar("SELECT COUNT(*) FROM analytics_seen") == len(msgs) + len(c.msgs)
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


GARBAGE = [
    ("orders.created", b"{not json", "invalid_json"),
    ("orders.created", b'{"order_id":"o","tenant_id":"t_alpha","line_items":[{"sku":"S","qty":1,'
                       b'"unit_price":"1.00"}],"total_amount":"1.00","created_at":'
                       b'"2026-11-23T10:00:00Z"}', "missing_field"),
    ("orders.events", b'{"event_id":"e","event_type":"order_shipped","order_id":"o",'
                      b'"tenant_id":"t_alpha","timestamp":"2026-11-23T10:00:00Z",'
                      b'"payload":{"status":"x"}}', "unknown_event_type"),
    ("orders.audit", b'{"order_id":"o","tenant_id":"t_alpha","action":"created",'
                     b'"at":"2026-02-30T10:00:00Z"}', "invalid_timestamp"),
    ("payments.completed", b'{"order_id":"o","tenant_id":"t_alpha","payment_id":"p",'
                           b'"state":"succeeded","amount":12.5,"currency":"EUR",'
                           b'"processed_at":"2026-11-23T10:00:00Z","trace_id":"'
                           + b"a" * 32 + b'"}', "wrong_type"),
    ("payments.completed", b'{"order_id":"o","tenant_id":"t_alpha","payment_id":"p",'
                           b'"state":"failed","amount":"1.00","currency":"EUR",'
                           b'"processed_at":"2026-11-23T10:00:00Z","trace_id":"'
                           + b"a" * 32 + b'"}', "missing_field"),
    ("inventory.updated", b'{"sku":"S","tenant_id":"t_alpha","order_id":"o","delta":-1,'
                          b'"reservation_id":"r","state":"reserved",'
                          b'"processed_at":"2026-11-23T10:00:00Z","trace_id":"'
                          + b"a" * 32 + b'","available":-3}', "invalid_value"),
    ("inventory.updated", b'[1,2]', "not_an_object"),
    ("notifications.events", b'{"a":1,"a":2}', "duplicate_key"),
    ("payments.completed", b'{"order_id":"o","tenant_id":"t_alpha","payment_id":"p",'
                           b'"state":"succeeded","amount":"1.00","currency":"eur",'
                           b'"processed_at":"2026-11-23T10:00:00Z","trace_id":"'
                           + b"a" * 32 + b'"}', "invalid_currency"),
]


def test_garbage_on_every_topic_goes_to_its_dlq(broker, db_url):
    a, b = two_tenants()
    svc = start(broker, db_url)
    try:
        extra = [(t, raw, b"k") for t, raw, _ in GARBAGE]
        half = len(a.msgs) // 2
        produce(broker, a.msgs[:half], extra)
        produce(broker, a.msgs[half:] + b.msgs)
        wait_summary(svc, a)
        wait_summary(svc, b)
        for topic in sorted({t for t, _, _ in GARBAGE}):
            want = sorted(reason for t, _, reason in GARBAGE if t == topic)
            got = consume_all(broker.bootstrap, topic + ".dlq", len(want), timeout=30)
            reasons = sorted(dict(m.headers())["error"].decode() for m in got)
            assert reasons == want, f"{topic}.dlq: {reasons} != {want}"
            for m in got:
                assert dict(m.headers())["source_topic"].decode() == topic
        assert svc.metric("orderpulse_events_dead_lettered_total") == len(GARBAGE)
        assert svc.alive()
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_window_aggregates_match_and_are_published_once(broker, db_url, db):
    a, b = two_tenants()
    svc = start(broker, db_url, ANALYTICS_WINDOW_SECONDS="2")
    aggs = {}

    def read_aggregates(n, timeout=20):
        msgs = consume_all(broker.bootstrap, "analytics.aggregates", n, timeout=timeout)
        out = []
        for m in msgs:
            body = json.loads(m.value())
            errors = list(VALIDATORS["analytics.aggregates"].iter_errors(body))
            assert not errors, f"aggregate breaks the contract: {errors[0].message}: {body}"
            assert m.key().decode() == body["tenant_id"]
            assert any(k == "traceparent" for k, _ in m.headers())
            out.append(body)
        return out

    try:
        produce(broker, a.msgs + b.msgs)
        wait_summary(svc, a)
        wait_summary(svc, b)

        def sums_match():
            aggs["all"] = read_aggregates(int(svc.metric(
                "orderpulse_analytics_aggregates_published_total")))
            for ds in (a, b):
                mine = [w for w in aggs["all"] if w["tenant_id"] == ds.tenant]
                if sum(w["orders"] for w in mine) != ds.orders:
                    return False
                revenue = {}
                for w in mine:
                    for cur, v in w["revenue"].items():
                        revenue[cur] = revenue.get(cur, Decimal(0)) + Decimal(v)
                if {c: f"{v:.2f}" for c, v in revenue.items()} != ds.expected()["revenue"]:
                    return False
            return True
        wait_until(sums_match, 30, "the windows' sums to match the totals")
        for ds in (a, b):
            mine = sorted((w for w in aggs["all"] if w["tenant_id"] == ds.tenant),
                          key=lambda w: w["window_start"])
            for w in mine:
                start_ = datetime.datetime.fromisoformat(w["window_start"].replace("Z", "+00:00"))
                end = datetime.datetime.fromisoformat(w["window_end"].replace("Z", "+00:00"))
                assert (end - start_).total_seconds() == 2
                for p in ("p50", "p95"):
                    assert w["latency_ms"][p] is None or w["latency_ms"][p] in ds.latencies
            # The last window closed after everything was applied: stock as at the end.
            assert mine[-1]["low_stock_skus"] == ds.expected()["low_stock_skus"]
        wait_until(lambda: db.scalar(
            "SELECT COUNT(*) FROM analytics_windows WHERE published = 0") == 0, 30,
            "every window published")
        published = int(svc.metric("orderpulse_analytics_aggregates_published_total"))
        assert svc.stop() == 0, svc.log_text()[-3000:]

        # A restart publishes no window twice: one more message opens one new window.
        svc = start(broker, db_url, ANALYTICS_WINDOW_SECONDS="2")
        p = Producer(broker.bootstrap)
        a2 = Dataset(a.tenant)
        a2.notification(99)
        p.send("notifications.events", a2.msgs[0][1], key=b"u_1")
        p.flush()
        wait_until(lambda: svc.metric("orderpulse_analytics_aggregates_published_total") == 1,
                   30, "the new window published")
        # Asks for one more than expected: a bounded read that would see a duplicate.
        after = read_aggregates(published + 2, timeout=5)
        assert len(after) == published + 1
        keys = [(w["tenant_id"], w["window_start"]) for w in after]
        assert len(set(keys)) == len(keys), "a window was published twice"
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_summary_refuses_requests_without_a_valid_token(broker, db_url):
    svc = start(broker, db_url)
    try:
        url = svc.url + "/api/analytics/summary"
        cases = [
            {},
            {"Authorization": "Bearer not.a.token"},
            {"Authorization": f"Bearer {token('t_alpha', secret='another-secret-0123456789')}"},
            {"Authorization": f"Bearer {token('t_alpha', exp_in=-3600)}"},
            {"Authorization": f"Bearer {token(None)}"},
            {"Authorization": f"Bearer {token('t_alpha', alg='HS512')}"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ]
        for headers in cases:
            r = requests.get(url, headers=headers, timeout=10)
            assert r.status_code == 401, (headers, r.status_code, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
        assert summary(svc, "t_alpha").status_code == 200
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]
