"""The whole platform: order, payment, inventory, notify and analytics as
separate processes on one broker and one database, driven over their public
APIs only (REST in, SSE and REST out)."""
import concurrent.futures
import os
import queue
import re
import subprocess
import threading
import time
import uuid

import pytest
import requests

from harness import JWT_SECRET, OP_BIN, Process, Service, free_port, run, wait_until
from sse import SSEClient, data, token

SERVICES = ["notify", "order", "payment", "inventory", "analytics"]
TERMINAL = {"reserved", "payment_failed", "out_of_stock", "cancelled", "fulfilled"}


class Platform:
    def __init__(self, broker, db_url):
        self.broker, self.db_url = broker, db_url
        self.svc = {}
        # All at once (migrations are safe to run concurrently), then each
        # awaited: their consumer groups form in parallel.
        for name in SERVICES:
            self.start(name, wait=False)
        for name in SERVICES:
            self.svc[name].wait_ready()

    def start(self, name, wait=True):
        self.svc[name] = Service(name, self.broker, self.db_url, wait=wait)
        return self.svc[name]

    def url(self, name, path):
        return self.svc[name].url + path

    def stop(self):
        bad = []
        for name, s in self.svc.items():
            rc = s.stop()
            if rc != 0:
                bad.append(f"{name} exited {rc}:\n{s.log_text()[-3000:]}")
        return bad

    # ---- the public APIs ---------------------------------------------------
    def set_stock(self, tenant, sku, qty):
        r = requests.put(self.url("inventory", f"/api/inventory/{sku}"), json={"quantity": qty},
                         headers=auth(tenant, roles=("Owner",)), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def stock(self, tenant, sku):
        r = requests.get(self.url("inventory", f"/api/inventory/{sku}"), headers=auth(tenant),
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def place(self, tenant, items, key=None, timeout=30):
        body = {"currency": "EUR", "line_items": [
            {"sku": sku, "qty": qty, "unit_price": price} for sku, qty, price in items]}
        r = requests.post(self.url("order", "/api/orders"), json=body, timeout=timeout,
                          headers={**auth(tenant), "Idempotency-Key": key or uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        return r.json()

    def order(self, tenant, order_id):
        r = requests.get(self.url("order", f"/api/orders/{order_id}"), headers=auth(tenant),
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_terminal(self, tenant, order_ids, timeout=90):
        states = {}

        def done():
            for oid in order_ids:
                if states.get(oid) not in TERMINAL:
                    states[oid] = self.order(tenant, oid)["status"]
            return all(s in TERMINAL for s in states.values()) and len(states) == len(order_ids)
        wait_until(done, timeout, f"{len(order_ids)} orders to reach a final state", interval=0.2)
        return states

    def summary(self, tenant):
        r = requests.get(self.url("analytics", "/api/analytics/summary"), headers=auth(tenant),
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def auth(tenant, sub="u_1", roles=("Staff",)):
    return {"Authorization": "Bearer " + token(tenant, sub=sub, roles=roles)}


@pytest.fixture
def platform(broker, db_url):
    p = Platform(broker, db_url)
    yield p
    bad = p.stop()
    assert not bad, "\n".join(bad)


def test_an_order_reaches_the_browser_created_paid_then_reserved(platform):
    p = platform
    p.set_stock("t_shop", "sku_tee", 10)
    sse = SSEClient(p.svc["notify"].port, token("t_shop"))
    other = SSEClient(p.svc["notify"].port, token("t_other"))
    sse.wait_events(lambda evs: evs, what="the connection event")
    order = p.place("t_shop", [("sku_tee", 2, "19.90")])
    assert order["status"] == "created" and order["total_amount"] == "39.80"
    sse.wait_events(lambda evs: len(evs) >= 4, timeout=60, what="three order events")
    evs = sse.order_events()
    assert [e["event"] for e in evs] == ["order_created", "order_paid", "order_status_updated"]
    assert [data(e)["data"]["status"] for e in evs] == ["created", "paid", "reserved"]
    assert all(data(e)["data"]["order_id"] == order["order_id"] for e in evs)
    assert [int(e["id"]) for e in evs] == [1, 2, 3]
    assert p.order("t_shop", order["order_id"])["status"] == "reserved"
    assert p.stock("t_shop", "sku_tee")["reserved"] == 2
    # The other tenant's stream saw nothing but its own connection event.
    other.pump(0.5)
    assert other.order_events() == []
    sse.close()
    other.close()


def test_a_declined_payment_ends_in_payment_failed_and_reserves_nothing(platform):
    p = platform
    p.set_stock("t_shop", "sku_mug", 5)
    order = p.place("t_shop", [("sku_mug", 1, "10.13")])  # .13: the gateway declines
    states = p.wait_terminal("t_shop", [order["order_id"]])
    assert states[order["order_id"]] == "payment_failed"
    s = p.stock("t_shop", "sku_mug")
    assert (s["on_hand"], s["reserved"], s["available"]) == (5, 0, 5)


def test_a_retried_order_is_placed_once_across_the_platform(platform):
    p = platform
    p.set_stock("t_idem", "sku_one", 10)
    sse = SSEClient(p.svc["notify"].port, token("t_idem"))
    sse.wait_events(lambda evs: evs, what="the connection event")
    key = uuid.uuid4().hex
    body = {"currency": "EUR", "line_items": [{"sku": "sku_one", "qty": 3, "unit_price": "4.00"}]}

    def post(b=body):
        return requests.post(p.url("order", "/api/orders"), json=b, timeout=30,
                             headers={**auth("t_idem"), "Idempotency-Key": key})
    # The same request sent ten times at once: one order, the same status and bytes to
    # every copy (a copy that loses the race answers as the winner did).
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        created = list(pool.map(lambda _: post(), range(10)))
    assert all(r.status_code == 201 for r in created), [(r.status_code, r.text) for r in created]
    assert len({r.content for r in created}) == 1
    order_id = created[0].json()["order_id"]
    assert p.wait_terminal("t_idem", [order_id])[order_id] == "reserved"
    # A retry after the fact replays the answer; the same key for another order is refused.
    again = post()
    assert (again.status_code, again.content) == (201, created[0].content)
    other = post({**body, "currency": "USD"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert p.stock("t_idem", "sku_one")["reserved"] == 3
    r = requests.get(p.url("order", "/api/orders"), headers=auth("t_idem"), timeout=10)
    assert [o["order_id"] for o in r.json()["orders"]] == [order_id]
    sse.wait_events(lambda evs: len(sse.order_events()) >= 3, timeout=60,
                    what="three order events")
    sse.pump(0.5)
    assert [e["event"] for e in sse.order_events()] == \
        ["order_created", "order_paid", "order_status_updated"]
    wait_until(lambda: p.summary("t_idem")["orders_total"] == 1, 60, "analytics to count it")
    sse.close()


def test_200_concurrent_orders_for_a_sku_with_stock_50_reserve_exactly_50(platform):
    p = platform
    p.set_stock("t_rush", "sku_hot", 50)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        orders = list(pool.map(lambda i: p.place("t_rush", [("sku_hot", 1, "5.00")]),
                               range(200)))
    ids = [o["order_id"] for o in orders]
    assert len(set(ids)) == 200
    states = p.wait_terminal("t_rush", ids, timeout=180)
    counts = {s: list(states.values()).count(s) for s in set(states.values())}
    assert counts == {"reserved": 50, "out_of_stock": 150}, counts
    s = p.stock("t_rush", "sku_hot")
    assert (s["reserved"], s["available"]) == (50, 0)
    wait_until(lambda: p.summary("t_rush")["orders_total"] == 200, 60,
               "analytics to count the 200 orders")


def test_kill9_of_each_service_in_turn_loses_nothing_and_doubles_nothing(platform):
    p = platform
    p.set_stock("t_k", "sku_a", 10000)
    sse = SSEClient(p.svc["notify"].port, token("t_k"))
    sse.wait_events(lambda evs: evs, what="the connection event")
    placed = []
    for name in ["payment", "inventory", "order", "analytics", "notify"]:
        placed += [p.place("t_k", [("sku_a", 1, "3.00")])["order_id"] for _ in range(15)]
        p.svc[name].kill9()
        placed += [p.place("t_k", [("sku_a", 1, "3.00")])["order_id"]
                   for _ in range(5 if name != "order" else 0)]
        p.start(name)
        if name == "notify":  # its streams went with it: reconnect and replay
            sse.close()
            sse = SSEClient(p.svc["notify"].port, token("t_k"), last_event_id="0")
    states = p.wait_terminal("t_k", placed, timeout=180)
    assert set(states.values()) == {"reserved"}, states
    assert p.stock("t_k", "sku_a")["reserved"] == len(placed)
    wait_until(lambda: p.summary("t_k")["orders_total"] == len(placed), 90,
               "analytics to count every order once")
    # Every order's three events reach the browser once each, in order.
    want = 3 * len(placed)
    sse.wait_events(lambda evs: len([e for e in evs if e.get("id")]) >= want, timeout=90,
                    what=f"{want} order events")
    evs = sse.order_events()
    assert [int(e["id"]) for e in evs] == list(range(1, want + 1))
    per_order = {}
    for e in evs:
        per_order.setdefault(data(e)["data"]["order_id"], []).append(e["event"])
    assert set(per_order) == set(placed)
    assert all(v == ["order_created", "order_paid", "order_status_updated"]
               for v in per_order.values())
    sse.close()


def test_analytics_summary_equals_the_orders_placed(platform):
    p = platform
    p.set_stock("t_an", "sku_x", 100)
    ok = [p.place("t_an", [("sku_x", 2, "10.00")])["order_id"] for _ in range(6)]
    bad = [p.place("t_an", [("sku_x", 1, "7.13")])["order_id"] for _ in range(2)]
    p.wait_terminal("t_an", ok + bad)

    def settled():
        s = p.summary("t_an")
        return s["orders_total"] == 8 and s["payments"]["succeeded"] == 6 and \
            s["payments"]["failed"] == 2 and s["revenue"].get("EUR") == "120.00"
    wait_until(settled, 60, "the summary to count every order")
    s = p.summary("t_an")
    assert s["payments"]["success_rate"] == pytest.approx(0.75)
    assert s["latency_ms"]["p50"] is not None
    assert p.summary("t_other")["orders_total"] == 0


# ---- `orderpulse dev`: the whole platform in one process ---------------------

class Dev(Process):
    """`orderpulse dev` on a free port with its embedded broker; stdout is read
    line by line by a thread (so that the pipe never fills)."""

    def __init__(self, db_path, args=(), env=None):
        self.port = free_port()
        full_env = {"PORT": str(self.port), "HTTP_HOST": "127.0.0.1",
                    "DATABASE_URL": f"sqlite://{db_path}", "LOG_LEVEL": "info"}
        full_env.update(env or {})
        saved = {k: os.environ.pop(k) for k in ("KAFKA_BROKERS", "JWT_SECRET") if k in os.environ}
        try:
            super().__init__("dev", [OP_BIN, "dev", *args], env=full_env, stdout=subprocess.PIPE)
        finally:
            os.environ.update(saved)
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"dev printed no line within {timeout}s; log:\n"
                                 f"{self.log_text()[-3000:]}")
        assert line is not None, f"dev closed its stdout; log:\n{self.log_text()[-3000:]}"
        return line

    def wait_banner(self, timeout=60):
        """The ready line, then the four demo users: {(tenant, role): token}."""
        deadline = time.monotonic() + timeout
        ready = self.line(timeout)
        m = re.fullmatch(r"orderpulse dev ready: http://localhost:(\d+) \(kafka (.+)\)", ready)
        assert m, ready
        assert int(m.group(1)) == self.port
        users = {}
        for _ in range(4):
            line = self.line(max(0.1, deadline - time.monotonic()))
            m = re.fullmatch(r"demo user: tenant=(\S+) user=(\S+) roles=(\S+) token=(\S+)", line)
            assert m, line
            users[(m.group(1), m.group(3))] = (m.group(2), m.group(4))
        assert len({t for t, _ in users}) == 2, users
        assert {r for _, r in users} == {"Owner", "Cashier"}, users
        return users

    def get(self, path, tok, **kw):
        return requests.get(self.url + path, headers={"Authorization": "Bearer " + tok},
                            timeout=10, **kw)


def test_dev_runs_the_whole_platform_in_one_process_on_one_port(tmp_path):
    dev = Dev(tmp_path / "dev.db")  # no JWT_SECRET: tokens signed with this run's secret
    try:
        users = dev.wait_banner()
        tenant = sorted(t for t, r in users if r == "Owner")[0]
        owner = users[(tenant, "Owner")][1]
        # dev gives the demo catalogue its stock once it is up.
        wait_until(lambda: dev.get("/api/inventory/sku_tee", owner).status_code == 200, 60,
                   "dev to set the demo stock")
        stock = dev.get("/api/inventory/sku_tee", owner).json()
        assert stock["on_hand"] == 500 and stock["reserved"] == 0, stock
        sse = SSEClient(dev.port, owner)
        sse.wait_events(lambda evs: evs, timeout=30, what="the connection event")
        r = requests.post(dev.url + "/api/orders", timeout=30, json={
            "currency": "EUR", "line_items": [{"sku": "sku_tee", "qty": 2, "unit_price": "19.90"}]},
            headers={"Authorization": "Bearer " + owner, "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        order = r.json()
        def tenant_events():  # the owner's own notification also arrives
            return [e for e in sse.order_events() if e["event"] != "notification"]
        sse.wait_events(lambda evs: len(tenant_events()) >= 3, timeout=60,
                        what="three order events")
        evs = tenant_events()
        assert [e["event"] for e in evs] == ["order_created", "order_paid", "order_status_updated"]
        # The demo users are in notify's directory: the owner is told of the payment.
        assert dev.get("/api/users/me", owner).json()["roles"] == ["Owner"]
        sse.wait_events(lambda evs: any(e["event"] == "notification" for e in evs), timeout=30,
                        what="the owner's notification")
        assert [data(e)["data"]["status"] for e in evs] == ["created", "paid", "reserved"]
        assert all(data(e)["data"]["order_id"] == order["order_id"] for e in evs)
        sse.close()
        wait_until(lambda: dev.get("/api/analytics/summary", owner).json()["orders_total"] == 1,
                   60, "analytics to count the order")
        assert dev.get("/api/inventory/sku_tee", owner).json()["reserved"] == 2
        # The other demo tenant sees none of it.
        other = [t for t, r in users if r == "Owner" and t != tenant][0]
        assert dev.get("/api/orders", users[(other, "Owner")][1]).json()["orders"] == []
    finally:
        rc = dev.stop()
    assert rc == 0, dev.log_text()[-3000:]
    # With SQLite, each service has a file of its own beside DATABASE_URL's.
    for svc in ["notify", "order", "payment", "inventory", "analytics"]:
        assert (tmp_path / f"dev-{svc}.db").exists(), svc


def test_dev_simulate_places_orders_by_itself(tmp_path):
    dev = Dev(tmp_path / "dev.db", args=["--simulate", "20"], env={"JWT_SECRET": JWT_SECRET})
    try:
        users = dev.wait_banner()
        owners = [tok for (t, r), (u, tok) in users.items() if r == "Owner"]

        def placed():
            return sum(len(dev.get("/api/orders", tok).json()["orders"]) for tok in owners)
        wait_until(placed, 60, "simulated orders", interval=0.2)
    finally:
        rc = dev.stop()
    assert rc == 0, dev.log_text()[-3000:]


def test_dev_rejects_a_bad_simulate_rate():
    r = run(["dev", "--simulate", "abc"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--simulate" in r.stderr and r.stdout == ""
