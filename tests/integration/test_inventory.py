"""orderpulse inventory, black box: the real binary, a real Kafka client, SQLite and PostgreSQL.

Messages are built to the contracts (contracts/*.schema.json) and every inventory.updated record
read back is checked against its schema.
"""
import json
import pathlib
import uuid

import pytest
import requests
from jsonschema import Draft7Validator, RefResolver

import harness
from harness import Producer, Service, consume_all, order_event, run, wait_until
from sse import token

CONTRACTS = pathlib.Path(__file__).resolve().parents[2] / "contracts"
SCHEMA = json.loads((CONTRACTS / "inventory.updated.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, resolver=RefResolver(CONTRACTS.as_uri() + "/", SCHEMA))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
NOW = "2026-11-23T10:00:00.000Z"


def new_trace():
    return uuid.uuid4().hex


def created(tenant, order, items, trace=TRACE):
    lines = [{"sku": sku, "qty": qty, "unit_price": "1.00"} for sku, qty in items]
    total = f"{sum(q for _, q in items)}.00"
    return {"order_id": order, "tenant_id": tenant, "user_id": "u_1", "line_items": lines,
            "total_amount": total, "currency": "EUR", "created_at": NOW, "trace_id": trace}


def payment(tenant, order, ok=True, trace=TRACE):
    body = {"order_id": order, "tenant_id": tenant, "payment_id": "pay_" + order,
            "state": "succeeded" if ok else "failed", "amount": "1.00", "currency": "EUR",
            "processed_at": NOW, "trace_id": trace}
    if not ok:
        body["reason"] = "card_declined"
    return body


def tp(trace):
    return [("traceparent", f"00-{trace}-00f067aa0ba902b7-01".encode())]


def send(producer, topic, body, trace=TRACE):
    producer.send(topic, body, key=body["order_id"].encode(), headers=tp(trace))


def records(broker, expected, timeout=60):
    msgs = consume_all(broker.bootstrap, "inventory.updated", expected, timeout)
    out = []
    for m in msgs:
        rec = json.loads(m.value())
        errors = list(VALIDATOR.iter_errors(rec))
        assert not errors, f"record breaks the contract: {errors[0].message}: {rec}"
        assert m.key().decode() == rec["sku"]
        headers = dict(m.headers() or [])
        assert headers["traceparent"].decode().split("-")[1] == rec["trace_id"]
        out.append(rec)
    return out


def seed(db_url, tmp_path, text, name="stock.csv"):
    path = tmp_path / name
    path.write_text(text)
    return run(["inventory", "seed", str(path)], env={"DATABASE_URL": db_url})


def stock(db, tenant, sku):
    rows = db.query("SELECT on_hand, reserved FROM inventory_stock WHERE tenant_id = ? AND sku = ?",
                    (tenant, sku))
    return rows[0] if rows else None


def start(broker, db_url, name="inventory"):
    return Service("inventory", broker, db_url, name=name)


def test_seed_csv_json_then_reserve_per_sku(broker, db_url, db, tmp_path):
    r = seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\nt1,B,5\n")
    assert r.returncode == 0, r.stderr
    r = seed(db_url, tmp_path, json.dumps([{"tenant_id": "t1", "sku": "C", "quantity": 7}]),
             name="more.json")
    assert r.returncode == 0, r.stderr
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    trace = new_trace()
    send(p, "orders.created", created("t1", "o1", [("A", 1), ("B", 1), ("A", 1), ("C", 7)]), trace)
    send(p, "payments.completed", payment("t1", "o1"), trace)
    p.flush()
    recs = records(broker, 3)
    by_sku = {r["sku"]: r for r in recs}
    assert len(recs) == 3 and set(by_sku) == {"A", "B", "C"}
    assert all(r["state"] == "reserved" and r["order_id"] == "o1" for r in recs)
    assert (by_sku["A"]["delta"], by_sku["A"]["available"]) == (-2, 8)
    assert (by_sku["B"]["delta"], by_sku["B"]["available"]) == (-1, 4)
    assert (by_sku["C"]["delta"], by_sku["C"]["available"]) == (-7, 0)
    assert all(r["trace_id"] == trace for r in recs)
    assert stock(db, "t1", "A") == (10, 2)
    wait_until(lambda: svc.metric("orderpulse_inventory_reservations_total") == 3, 10, "metrics")
    assert svc.stop() == 0


def test_oversell_two_instances_same_group(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,HOT,50\n").returncode == 0
    a = start(broker, db_url, "inventory-a")
    b = start(broker, db_url, "inventory-b")
    p = Producer(broker.bootstrap)
    for i in range(200):
        send(p, "orders.created", created("t1", f"o{i}", [("HOT", 1)]))
        send(p, "payments.completed", payment("t1", f"o{i}"))
    p.flush()
    recs = records(broker, 200, timeout=120)
    states = [r["state"] for r in recs]
    assert len(recs) == 200
    assert states.count("reserved") == 50
    assert states.count("out_of_stock") == 150
    assert len({r["order_id"] for r in recs}) == 200
    assert len({r["reservation_id"] for r in recs if r["state"] == "reserved"}) == 50
    assert stock(db, "t1", "HOT") == (50, 50)
    assert all(r["available"] == 0 for r in recs if r["state"] == "out_of_stock")
    # Both instances did part of the work: the conditional update, not one
    # consumer, is what kept the count.
    done = [s.metric("orderpulse_inventory_reservations_total") for s in (a, b)]
    assert sum(done) == 200 and all(d > 0 for d in done), done
    assert a.metric("orderpulse_inventory_out_of_stock_total") + \
        b.metric("orderpulse_inventory_out_of_stock_total") == 150
    assert a.stop() == 0 and b.stop() == 0


def test_failed_payment_reserves_nothing(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    send(p, "orders.created", created("t1", "bad", [("A", 3)]))
    send(p, "payments.completed", payment("t1", "bad", ok=False))
    send(p, "orders.created", created("t1", "good", [("A", 1)]))
    send(p, "payments.completed", payment("t1", "good"))
    p.flush()
    wait_until(lambda: db.scalar("SELECT state FROM inventory_orders WHERE order_id = 'bad'")
               == "failed", 30, "the failed order")
    recs = records(broker, 1)
    wait_until(lambda: stock(db, "t1", "A") == (10, 1), 30, "the good order's reservation")
    wait_until(lambda: svc.metric("orderpulse_inventory_reservations_total") == 1, 10, "metrics")
    # Bounded look for a second record that must not come.
    assert [r["order_id"] for r in records(broker, 2, timeout=10)] == ["good"]
    assert db.scalar("SELECT COUNT(*) FROM inventory_reservations WHERE order_id = 'bad'") == 0
    assert recs[0]["state"] == "reserved"
    assert svc.stop() == 0


def test_cancellation_releases(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\nt1,B,4\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    send(p, "orders.created", created("t1", "o1", [("A", 2), ("B", 4)]))
    send(p, "payments.completed", payment("t1", "o1"))
    p.flush()
    reserved = {r["sku"]: r for r in records(broker, 2)}
    assert stock(db, "t1", "B") == (4, 4)
    cancel = order_event("t1", "o1", "order_status_updated", status="cancelled")
    trace = new_trace()
    p.send("orders.events", cancel, key=b"o1", headers=tp(trace))
    p.flush()
    recs = records(broker, 4)
    released = [r for r in recs if r["state"] == "released"]
    assert len(released) == 2
    for r in released:
        assert r["reservation_id"] == reserved[r["sku"]]["reservation_id"]
        assert r["delta"] == -reserved[r["sku"]]["delta"]
        assert r["trace_id"] == trace
    assert {r["sku"]: r["available"] for r in released} == {"A": 10, "B": 4}
    assert stock(db, "t1", "A") == (10, 0) and stock(db, "t1", "B") == (4, 0)
    assert svc.stop() == 0


def test_payment_before_order_is_parked(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    send(p, "payments.completed", payment("t1", "o1"))
    p.flush()
    wait_until(lambda: db.scalar("SELECT state FROM inventory_orders WHERE order_id = 'o1'")
               == "parked_succeeded", 30, "the parked payment")
    assert stock(db, "t1", "A") == (10, 0)
    send(p, "orders.created", created("t1", "o1", [("A", 4)]))
    p.flush()
    recs = records(broker, 1)
    assert recs[0]["state"] == "reserved" and recs[0]["delta"] == -4 and recs[0]["available"] == 6
    assert stock(db, "t1", "A") == (10, 4)
    assert svc.stop() == 0


def test_redelivery_re_emits_identical_records(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\nt1,B,1\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    oc = created("t1", "o1", [("A", 2)])
    pay = payment("t1", "o1")
    short_oc, short_pay = created("t1", "o2", [("A", 1), ("B", 2)]), payment("t1", "o2")
    for topic, body in (("orders.created", oc), ("payments.completed", pay),
                        ("orders.created", short_oc), ("payments.completed", short_pay)):
        send(p, topic, body)
    p.flush()
    first = records(broker, 2)
    assert sorted(r["state"] for r in first) == ["out_of_stock", "reserved"]
    # The same messages again, byte for byte: nothing changes, and whichever message of each
    # order caused its records (the payment, or the order when the payment came first) gives
    # the same records back.
    for topic, body in (("payments.completed", pay), ("orders.created", oc),
                        ("payments.completed", short_pay), ("orders.created", short_oc)):
        send(p, topic, body)
    p.flush()
    again = records(broker, 4)
    assert len(again) == 4
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, first + first))
    assert stock(db, "t1", "A") == (10, 2) and stock(db, "t1", "B") == (1, 0)
    assert db.scalar("SELECT COUNT(*) FROM inventory_reservations") == 1
    assert svc.metric("orderpulse_inventory_reservations_total") == 2
    assert svc.stop() == 0


def test_kill9_mid_flow_doubles_nothing(broker, db_url, db, tmp_path):
    n = 150
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,X,100000\nt1,Y,100000\n") \
        .returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    for i in range(n):
        send(p, "orders.created", created("t1", f"o{i}", [("X", 1 + i % 3), ("Y", 2)]))
        send(p, "payments.completed", payment("t1", f"o{i}"))
    p.flush()
    wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM inventory_reservations") or 0) >= 10, 60,
               "some reservations")
    svc.kill9()
    svc = start(broker, db_url, "inventory-restarted")
    wait_until(lambda: db.scalar("SELECT COUNT(*) FROM inventory_orders WHERE state = 'reserved'")
               == n, 120, "every order reserved")
    recs = records(broker, 2 * n, timeout=60)
    distinct = {r["reservation_id"]: r for r in recs}
    assert len(distinct) == 2 * n
    for sku in ("X", "Y"):
        emitted = -sum(r["delta"] for r in distinct.values() if r["sku"] == sku)
        assert stock(db, "t1", sku)[1] == emitted
    assert stock(db, "t1", "Y") == (100000, 2 * n)
    assert db.scalar("SELECT COUNT(*) FROM inventory_reservations") == 2 * n
    assert svc.stop() == 0


def test_garbage_goes_to_each_dlq(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,10\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    p.send("orders.created", b"not json", key=b"g1")
    bad_items = created("t1", "g2", [("A", 1)])
    bad_items["line_items"][0]["qty"] = 0
    p.send("orders.created", bad_items, key=b"g2")
    no_state = payment("t1", "g3")
    del no_state["state"]
    p.send("payments.completed", no_state, key=b"g3")
    p.send("orders.events", b'{"event_id":"e"}', key=b"g4")
    send(p, "orders.created", created("t1", "ok", [("A", 1)]))
    send(p, "payments.completed", payment("t1", "ok"))
    p.flush()
    expect = {"orders.created.dlq": {b"invalid_json", b"invalid_qty"},
              "payments.completed.dlq": {b"missing_field"},
              "orders.events.dlq": {b"missing_field"}}
    for topic, reasons in expect.items():
        msgs = consume_all(broker.bootstrap, topic, len(reasons))
        assert {dict(m.headers())["error"] for m in msgs} == reasons, topic
    recs = records(broker, 1)
    assert recs[0]["order_id"] == "ok" and recs[0]["state"] == "reserved"
    assert svc.alive()
    assert svc.stop() == 0


def api(svc, method, sku, tok=None, body=None, raw=None, params=None):
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(method, f"{svc.url}/api/inventory/{sku}" if sku is not None
                            else f"{svc.url}/api/inventory", headers=headers, json=body,
                            data=raw, params=params, timeout=10)


def test_http_endpoints(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,5\n").returncode == 0
    svc = start(broker, db_url)
    owner, staff, other = token("t1"), token("t1", roles=("Staff",)), token("t2")
    assert api(svc, "GET", "A").status_code == 401
    assert api(svc, "GET", "A", "not.a.token").status_code == 401
    assert api(svc, "GET", "A", token("t1", secret="another-secret-0123456789")).status_code == 401
    r = api(svc, "GET", "A", staff)
    assert r.status_code == 200
    assert r.json() == {"sku": "A", "on_hand": 5, "reserved": 0, "available": 5}
    assert api(svc, "GET", "A", other).status_code == 404  # tenant isolation
    assert api(svc, "GET", "NOPE", owner).json()["error"]["code"] == "not_found"
    r = api(svc, "PUT", "A", staff, {"quantity": 9})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert api(svc, "PUT", "A", None, {"quantity": 9}).status_code == 401
    r = api(svc, "PUT", "A", owner, raw="{not json")
    assert r.status_code == 400 and "error" in r.json()
    for body, fields in (({"quantity": "9"}, ["quantity"]), ({"quantity": 1.5}, ["quantity"]),
                         ({"quantity": -1}, ["quantity"]), ({"quantity": 1000000001}, ["quantity"]),
                         ({}, ["quantity"]), ({"quantity": 3, "colour": "red"}, ["colour"]),
                         ({"qty": 3}, ["qty", "quantity"]), ([3], ["quantity"])):
        r = api(svc, "PUT", "A", owner, body)
        assert r.status_code == 422, (body, r.text)
        assert sorted(r.json()["error"]["fields"]) == fields, body
    r = api(svc, "PUT", "NEW", other, {"quantity": 1000000000})
    assert r.status_code == 200
    assert r.json() == {"sku": "NEW", "on_hand": 1000000000, "reserved": 0,
                        "available": 1000000000}
    assert api(svc, "GET", "NEW", owner).status_code == 404  # t2's sku, not t1's
    p = Producer(broker.bootstrap)
    send(p, "orders.created", created("t1", "o1", [("A", 4)]))
    send(p, "payments.completed", payment("t1", "o1"))
    p.flush()
    records(broker, 1)
    r = api(svc, "PUT", "A", owner, {"quantity": 3})
    assert r.status_code == 409 and r.json()["error"]["code"] == "below_reserved"
    assert stock(db, "t1", "A") == (5, 4)
    r = api(svc, "PUT", "A", owner, {"quantity": 4})
    assert r.json() == {"sku": "A", "on_hand": 4, "reserved": 4, "available": 0}
    r = api(svc, "GET", None, staff, params={"low_stock": "1", "threshold": "0"})
    assert r.status_code == 200 and [i["sku"] for i in r.json()["items"]] == ["A"]
    assert svc.stop() == 0


def test_seed_bad_line_applies_nothing(db_url, db, tmp_path):
    r = seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,5\nt1,B,five\nt1,C,1\n")
    assert r.returncode == 2
    assert "line 3" in r.stderr and "quantity" in r.stderr
    assert not db.scalar("SELECT COUNT(*) FROM inventory_stock")
    r = seed(db_url, tmp_path, '[{"tenant_id":"t1","sku":"A","quantity":5},{"sku":"B"}]',
             name="s.json")
    assert r.returncode == 2 and "entry 2" in r.stderr
    assert not db.scalar("SELECT COUNT(*) FROM inventory_stock")
    r = seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,5\n")
    assert r.returncode == 0 and stock(db, "t1", "A") == (5, 0)


def test_seed_below_reserved_is_refused(broker, db_url, db, tmp_path):
    assert seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,A,5\nt1,B,5\n").returncode == 0
    svc = start(broker, db_url)
    p = Producer(broker.bootstrap)
    send(p, "orders.created", created("t1", "o1", [("A", 3)]))
    send(p, "payments.completed", payment("t1", "o1"))
    p.flush()
    records(broker, 1)
    r = seed(db_url, tmp_path, "tenant_id,sku,quantity\nt1,B,9\nt1,A,2\n")
    assert r.returncode == 2
    assert "line 3" in r.stderr and "reserved" in r.stderr
    assert stock(db, "t1", "A") == (5, 3) and stock(db, "t1", "B") == (5, 0)
    assert svc.stop() == 0
