"""Real-time delivery over SSE: tenant scoping, replay, resync, authentication."""
import json
import time

import pytest
import requests

from harness import Notify, Producer, order_event, wait_until
from sse import SSEClient, data, token


def publish(broker, events):
    p = Producer(broker.bootstrap)
    for e in events:
        p.send("orders.events", e, key=e["order_id"].encode())
    p.flush()


@pytest.fixture
def notify(broker, db_url):
    n = Notify(broker, db_url)
    yield n
    assert n.stop() == 0, n.log_text()[-3000:]


def test_stream_headers_first_frames_and_live_events(broker, notify):
    c = SSEClient(notify.port, token("t_a"))
    assert c.status == 200
    assert c.headers["content-type"] == "text/event-stream"
    assert c.headers["cache-control"] == "no-cache"
    assert c.headers["x-accel-buffering"] == "no"
    assert c.headers["connection"] == "keep-alive"
    c.wait_events(lambda evs: evs, what="the connection event")
    assert c.retry == 3000
    hello = data(c.events[0])
    assert c.events[0]["event"] == "connection" and hello["tenant_id"] == "t_a"
    assert hello["message"] == "Connected to notifications stream"
    ev = order_event("t_a", "ord_1", "order_paid", "paid", reference="A-<1>\n2")
    publish(broker, [ev])
    c.wait_events(lambda evs: len(evs) >= 2, what="the order event")
    got = c.events[1]
    assert got["event"] == "order_paid" and got["id"] == "1"
    body = data(got)
    assert body["id"] == ev["event_id"] and body["event"] == "order_paid"
    assert body["data"] == {"order_id": "ord_1", "tenant_id": "t_a", "status": "paid",
                            "reference": "A-<1>\n2", "total_amount": "129.90",
                            "currency": "EUR", "timestamp": ev["timestamp"]}
    assert "trace_id" in body
    c.close()


def test_no_event_crosses_a_tenant(broker, notify):
    tenants = [f"t_{i:02d}" for i in range(50)]
    clients = {t: SSEClient(notify.port, token(t)) for t in tenants}
    for c in clients.values():
        c.wait_events(lambda evs: evs, what="connection")
    events = [order_event(t, f"o_{t}_{k}", seq=k) for k in range(4) for t in tenants]
    publish(broker, events)
    for t, c in clients.items():
        c.wait_events(lambda evs: len(evs) >= 5, what=f"4 events of {t}")
        got = c.order_events()
        assert len(got) == 4
        assert all(data(e)["data"]["tenant_id"] == t for e in got)
        assert [int(e["id"]) for e in got] == [1, 2, 3, 4]
        c.close()


def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(broker, notify):
    c = SSEClient(notify.port, token("t_r"))
    publish(broker, [order_event("t_r", f"o{i}", seq=i) for i in range(5)])
    c.wait_events(lambda evs: len(evs) >= 6, what="first five")
    last = c.order_events()[-1]["id"]
    assert last == "5"
    c.close()
    missed = [order_event("t_r", f"p{i}", seq=i) for i in range(7)]
    publish(broker, missed)
    wait_until(lambda: notify.metric("orderpulse_events_stored_total") >= 12, 20, "stored")
    c2 = SSEClient(notify.port, token("t_r"), last_event_id=last)
    c2.wait_events(lambda evs: len(evs) >= 8, what="the seven missed")
    got = c2.order_events()
    assert [int(e["id"]) for e in got] == list(range(6, 13))
    # Different orders travel on different partitions: only the set is fixed.
    assert sorted(data(e)["id"] for e in got) == sorted(e["event_id"] for e in missed)
    publish(broker, [order_event("t_r", "live")])
    c2.wait_events(lambda evs: len(evs) >= 9, what="live after replay")
    assert [int(e["id"]) for e in c2.order_events()] == list(range(6, 14))
    c2.close()


def test_replay_after_restart_comes_from_the_tenant_log(broker, db_url):
    n = Notify(broker, db_url)
    publish(broker, [order_event("t_d", f"o{i}") for i in range(6)])
    wait_until(lambda: n.metric("orderpulse_events_stored_total") == 6, 20, "stored")
    assert n.stop() == 0
    n = Notify(broker, db_url)
    try:
        c = SSEClient(n.port, token("t_d"), last_event_id="2")
        c.wait_events(lambda evs: len(evs) >= 5, what="replay from the log")
        assert [int(e["id"]) for e in c.order_events()] == [3, 4, 5, 6]
        c.close()
    finally:
        assert n.stop() == 0, n.log_text()[-3000:]


@pytest.mark.parametrize("last_id,reason", [("abc", "invalid_last_event_id"),
                                            ("999999", "ahead")])
def test_bad_or_ahead_last_event_id_gets_resync_then_live(broker, notify, last_id, reason):
    publish(broker, [order_event("t_s", "o1")])
    wait_until(lambda: notify.metric("orderpulse_events_stored_total") == 1, 20, "stored")
    c = SSEClient(notify.port, token("t_s"), last_event_id=last_id)
    c.wait_events(lambda evs: len(evs) >= 2, what="resync")
    assert c.events[1]["event"] == "resync"
    assert data(c.events[1]) == {"reason": reason, "snapshot_url": "/api/orders/snapshot"}
    publish(broker, [order_event("t_s", "o2")])
    c.wait_events(lambda evs: len(evs) >= 3, what="live after resync")
    assert c.events[2]["id"] == "2"
    c.close()


def test_outside_window_resync_and_snapshot_marker_continue_without_gap(broker, db_url):
    n = Notify(broker, db_url, extra_env={"SSE_REPLAY_BUFFER_SIZE": "5"})
    try:
        publish(broker, [order_event("t_w", f"o{i % 4}", seq=i) for i in range(12)])
        wait_until(lambda: n.metric("orderpulse_events_stored_total") == 12, 20, "stored")
        c = SSEClient(n.port, token("t_w"), last_event_id="1")
        c.wait_events(lambda evs: len(evs) >= 2, what="resync")
        assert c.events[1]["event"] == "resync"
        assert data(c.events[1])["reason"] == "outside_window"
        c.close()
        snap = requests.get(f"{n.url}/api/orders/snapshot",
                            headers={"Authorization": "Bearer " + token("t_w")}, timeout=5).json()
        assert snap["tenant_id"] == "t_w" and snap["last_event_id"] == "12"
        assert sorted(o["order_id"] for o in snap["orders"]) == ["o0", "o1", "o2", "o3"]
        publish(broker, [order_event("t_w", "late")])
        c2 = SSEClient(n.port, token("t_w"), last_event_id=snap["last_event_id"])
        c2.wait_events(lambda evs: len(evs) >= 2, what="the event after the marker")
        assert [e["id"] for e in c2.order_events()] == ["13"]
        since = requests.get(f"{n.url}/api/orders/snapshot?since=12",
                             headers={"Authorization": "Bearer " + token("t_w")}, timeout=5)
        assert [o["order_id"] for o in since.json()["orders"]] == ["late"]
        c2.close()
    finally:
        assert n.stop() == 0, n.log_text()[-3000:]


@pytest.mark.parametrize("tok,reason", [
    (lambda: token("t_x", exp_in=-120), "expired"),
    (lambda: token("t_x", secret="another-secret-0123456789"), "bad_signature"),
    (lambda: token("t_x", alg="HS512"), "bad_algorithm"),
    (lambda: token(None), "missing_claim"),
    (lambda: None, "missing_token"),
    (lambda: "not.a.token", "malformed"),
])
def test_refused_tokens_get_401(notify, tok, reason):
    c = SSEClient(notify.port, tok())
    assert c.status == 401
    assert json.loads(c.body())["error"]["code"] == "unauthorized"
    c.close()
    r = requests.get(f"{notify.url}/api/orders/snapshot",
                     headers={"Authorization": f"Bearer {tok()}"} if tok() else {}, timeout=5)
    assert r.status_code == 401
    wait_until(lambda: notify.metrics().get(
        f'orderpulse_sse_auth_failures_total{{reason="{reason}"}}', 0) >= 2, 5, reason)


def test_alg_none_is_refused(notify):
    import base64

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    none = b64({"alg": "none", "typ": "JWT"}) + "." + b64(
        {"sub": "u", "tenant_id": "t_x", "roles": [], "exp": int(time.time()) + 60}) + "."
    c = SSEClient(notify.port, none)
    assert c.status == 401
    c.close()


def test_token_in_query_and_cookie(notify):
    tok = token("t_q")
    c = SSEClient(notify.port, path=f"/events/stream?access_token={tok}")
    assert c.status == 200
    c.close()
    c = SSEClient(notify.port, headers={"Cookie": f"op_token={tok}"})
    assert c.status == 200
    c.close()


def test_positions_older_than_the_ttl_get_resync(broker, db_url):
    n = Notify(broker, db_url, extra_env={"SSE_REPLAY_BUFFER_TTL_SECONDS": "1"})
    try:
        publish(broker, [order_event("t_ttl", f"o{i}") for i in range(3)])
        wait_until(lambda: n.metric("orderpulse_events_stored_total") == 3, 20, "stored")
        stored_at = time.monotonic()
        # The window's age is what is tested: let 1 s pass on the clock.
        wait_until(lambda: time.monotonic() - stored_at > 1.5, 5, "the TTL to pass")
        c = SSEClient(n.port, token("t_ttl"), last_event_id="1")
        c.wait_events(lambda evs: len(evs) >= 2, what="resync")
        assert c.events[1]["event"] == "resync"
        assert data(c.events[1])["reason"] == "outside_window"
        c.close()
    finally:
        assert n.stop() == 0, n.log_text()[-3000:]
