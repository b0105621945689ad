"""Scale-out over Redis (DESIGN.md §8): several notify instances in one
consumer group, a real redis-server started here, SSE clients spread over the
instances. Every client must receive every event of its tenant exactly once,
positions contiguous, per-order order kept, through instance moves, kill -9
of an instance and a Redis restart.

These run on PostgreSQL, the multi-instance database (several processes on
one SQLite file work too, one writer at a time, but are no deployment).
"""
import json
import os
import socket
import subprocess
import threading
import time

import pytest
import requests

from harness import (Database, Notify, Process, Producer, Service, free_port, order_event, run,
                     wait_until)
from sse import Fleet, SSEClient, token

pytestmark = pytest.mark.backends("postgres")

TOPIC = "orders.events"


class RedisServer:
    """redis-server on a free port, no persistence, in a temporary directory."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = Process("redis", ["redis-server", "--port", str(self.port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                      str(self.dir)])
        wait_until(self.ping, 10, "redis-server to answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        rc = self.proc.stop()
        return rc


@pytest.fixture
def redis_server(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.stop()


class Cluster:
    """notify instances sharing one broker, database and Redis; each must exit
    0 at the end, except those killed on purpose."""

    def __init__(self, broker, db_url, redis):
        self.broker, self.db_url, self.redis = broker, db_url, redis
        self.started = []
        self.killed = set()

    def start(self, name, consume=True, env=None):
        extra = {"REDIS_URL": self.redis.url, "CONSUMER_BATCH_SIZE": "200",
                 "HTTP_THREADS": "2"}
        extra.update(env or {})
        if consume:
            n = Notify(self.broker, self.db_url, extra_env=extra, name=name)
        else:
            n = Service("notify", self.broker, self.db_url, extra_env=extra, name=name,
                        wait=False, args=("--no-consume",))

            def serving():
                assert n.alive(), f"{name} exited early:\n{n.log_text()[-3000:]}"
                code, body = n.health()
                return code == 200 and body.get("redis", {}).get("status") == "ok"
            wait_until(serving, 30, f"{name} to serve")
        self.started.append(n)
        return n

    def kill9(self, n):
        n.kill9()
        self.killed.add(n.name)

    def stop_all(self):
        bad = []
        for n in self.started:
            if n.name in self.killed:
                n.log.close()
                continue
            rc = n.stop()
            if rc != 0:
                bad.append(f"{n.name} exited {rc}:\n{n.log_text()[-4000:]}")
        assert not bad, "\n".join(bad)


@pytest.fixture
def cluster(broker, db_url, redis_server):
    c = Cluster(broker, db_url, redis_server)
    yield c
    c.stop_all()


def produce(producer, tenants, orders_per_tenant, events_per_order, start_seq=0):
    """Events keyed by order id (Kafka keeps each order's events in order);
    reference R-<seq> increases per order. Returns the number sent."""
    sent = 0
    for seq in range(start_seq, start_seq + events_per_order):
        for t in tenants:
            for o in range(orders_per_tenant):
                order = f"{t}-o{o}"
                ev = {"event_id": os.urandom(16).hex(), "event_type": "order_status_updated",
                      "order_id": order, "tenant_id": t,
                      "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                      "payload": {"status": "processing", "reference": f"R-{seq}",
                                  "total_amount": "10.00", "currency": "EUR", "user_id": "u_1"}}
                if seq == 0:
                    ev["event_type"], ev["payload"]["status"] = "order_created", "created"
                producer.send(TOPIC, ev, key=order.encode())
                sent += 1
    producer.flush()
    return sent


class Clients:
    """SSE connections over several instances, polled together."""

    def __init__(self):
        self.fleets = {}
        self.conns = []  # (tenant, conn)

    def fleet(self, inst):
        if inst.port not in self.fleets:
            self.fleets[inst.port] = Fleet(inst.port)
        return self.fleets[inst.port]

    def connect(self, inst, tenant, last_event_id=None):
        f = self.fleet(inst)
        c = f.open([{"tok": token(tenant), "last_event_id": last_event_id}], timeout=30)[0]
        assert c.status == 200, (c.status, c.body)
        self.conns.append((tenant, c))
        return c

    def poll(self):
        for f in self.fleets.values():
            f.poll(0.01)

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
            self.poll()

    def close(self):
        for f in self.fleets.values():
            f.close_all()


def positions(events):
    return [int(e["id"]) for e in events if e["event"] not in ("connection", "resync")]


def check_stream(events, expected_last, what):
    """Exactly positions 1..expected_last, once, in order; per order the
    references increase."""
    pos = positions(events)
    assert pos == list(range(1, expected_last + 1)), \
        f"{what}: {len(pos)} events, first gaps/dups near " \
        f"{[p for i, p in enumerate(pos) if i and p != pos[i - 1] + 1][:5]}"
    last_ref = {}
    for e in events:
        if e["event"] in ("connection", "resync"):
            continue
        d = json.loads(e["data"])["data"]
        ref = int(d["reference"].split("-")[1])
        assert ref > last_ref.get(d["order_id"], -1), f"{what}: order {d['order_id']} out of order"
        last_ref[d["order_id"]] = ref


def delivered(c):
    return len(positions(c.events))


def committed_total(bootstrap, group="notification-service", partitions=6):
    """Sum of the group's committed offsets on orders.events."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(TOPIC, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in got)
    finally:
        c.close()


# ---- configuration -------------------------------------------------------------

@pytest.mark.parametrize("url", ["redis://", "redis://host:notaport", "redis://h:70000",
                                 "rediss://h:6379", "redis://h:6379/x"])
def test_bad_redis_url_exits_2(url):
    r = run(["notify"], env={"REDIS_URL": url, "JWT_SECRET": "0123456789abcdef0123"})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "REDIS_URL" in r.stderr


def test_no_consume_needs_redis():
    r = run(["notify", "--no-consume"], env={"REDIS_URL": "", "JWT_SECRET": "0123456789abcdef0"})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "REDIS_URL" in r.stderr


# ---- fan-out across instances -------------------------------------------------------

TENANTS = [f"t{i:02d}" for i in range(20)]


@pytest.mark.serial  # 3 instances, 80 clients, 10,000 events: alone, not beside other tests
def test_three_instances_every_client_every_event(cluster, broker):
    """3 consuming instances (6 partitions) + 1 --no-consume; 20 tenants, a
    client per tenant on each instance; mid-stream the clients of one
    instance move to others with Last-Event-ID, then that instance is killed
    -9 and its partitions move; 10,000 events in all."""
    a, b, c = (cluster.start(n) for n in ("notify-a", "notify-b", "notify-c"))
    d = cluster.start("notify-d", consume=False)
    clients = Clients()
    try:
        per = {inst.name: [(t, clients.connect(inst, t)) for t in TENANTS] for inst in (a, b, c, d)}
        producer = Producer(broker.bootstrap)
        orders, rounds = 5, 100  # 20 tenants x 5 orders x 100 = 10,000 events
        n1 = produce(producer, TENANTS, orders, rounds // 2)
        want1 = orders * rounds // 2
        # The clients on `a` move to b and d mid-stream, with their Last-Event-ID.
        clients.wait(lambda: all(delivered(cn) >= want1 // 3 for _, cn in per["notify-a"]), 120,
                     "a's clients to be mid-stream")
        moved = []
        for i, (t, cn) in enumerate(per["notify-a"]):
            clients.poll()
            last = cn.parser.last_event_id
            before = list(cn.events)
            cn.close()
            target = b if i % 2 else d
            moved.append((t, before, clients.connect(target, t, last_event_id=last)))
        # Then a dies hard, with whatever batch it had in hand.
        cluster.kill9(a)
        n2 = produce(producer, TENANTS, orders, rounds - rounds // 2, start_seq=rounds // 2)
        assert n1 + n2 == 10000
        want = orders * rounds
        live = [(t, cn) for name in ("notify-b", "notify-c", "notify-d") for t, cn in per[name]]
        clients.wait(lambda: all(delivered(cn) >= want for _, cn in live) and
                     all(len(positions(before)) + delivered(cn) >= want
                         for _, before, cn in moved), 240, "every client to get every event")
        for t, cn in live:
            assert cn.end is None, f"{t}: stream ended ({cn.end})"
            check_stream(cn.events, want, f"client of {t}")
        for t, before, cn in moved:
            check_stream(before + cn.events, want, f"moved client of {t}")
        # Nothing more arrives (no duplicate published late).
        time.sleep(0.5)  # not synchronisation: a window for stray duplicates to show
        clients.poll()
        for t, cn in live:
            assert delivered(cn) == want
        code, body = b.health()
        assert body["redis"]["status"] == "ok"
        assert b.metric("orderpulse_sse_bus_resyncs_total") == 0
    finally:
        clients.close()


def test_redis_restart_no_silent_loss(cluster, broker, redis_server, db_url):
    """Redis goes away mid-run and comes back: clients stay connected, /health
    says degraded meanwhile, offsets wait for the publish, and afterwards every
    client has every event (or was told to resync: then the snapshot marker
    covers everything)."""
    a = cluster.start("notify-a")
    b = cluster.start("notify-b")
    d = cluster.start("notify-d", consume=False)
    tenants = TENANTS[:5]
    clients = Clients()
    try:
        conns = [(t, clients.connect(inst, t)) for inst in (a, b, d) for t in tenants]
        producer = Producer(broker.bootstrap)
        orders = 4
        produce(producer, tenants, orders, 10)
        clients.wait(lambda: all(delivered(cn) >= orders * 10 for _, cn in conns), 60,
                     "the first events")
        redis_server.stop()
        for inst in (a, b, d):
            wait_until(lambda: (inst.health()[1] or {}).get("redis", {}).get("status")
                       == "degraded", 15, f"{inst.name} /health redis degraded")
            code, body = inst.health()
            assert code == 200 and body["status"] == "degraded", (code, body)
        produce(producer, tenants, orders, 10, start_seq=10)  # stored, not published yet
        db = Database(db_url)
        first = len(tenants) * orders * 10
        # A batch in hand is stored, then its publish fails and is retried...
        wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM tenant_log") or 0) > first, 60,
                   "a batch of the outage to be stored")
        # ... and its offsets are not committed: stored, but Redis has not taken it.
        assert committed_total(broker.bootstrap) == first
        clients.poll()
        assert all(cn.end is None for _, cn in conns), "a client was disconnected"
        redis_server.start()
        for inst in (a, b, d):
            wait_until(lambda: (inst.health()[1] or {}).get("redis", {}).get("status") == "ok",
                       30, f"{inst.name} /health redis ok again")
        produce(producer, tenants, orders, 10, start_seq=20)
        want = orders * 30
        clients.wait(lambda: all(delivered(cn) >= want or any(e["event"] == "resync"
                                                               for e in cn.events)
                                 for _, cn in conns), 120, "every client to catch up")
        for t, cn in conns:
            assert cn.end is None
            if any(e["event"] == "resync" for e in cn.events):
                r = requests.get(f"http://127.0.0.1:{a.port}/api/orders/snapshot",
                                 headers={"Authorization": f"Bearer {token(t)}"}, timeout=10)
                snap = r.json()
                assert int(snap["last_event_id"]) == want
                assert len(snap["orders"]) == orders
            else:
                check_stream(cn.events, want, f"client of {t}")
    finally:
        clients.close()


def test_redelivered_batch_is_published_again(cluster, broker, redis_server, db_url):
    """An instance stores a batch, cannot publish it (Redis down) and dies: the
    instance that takes over finds the batch's events as duplicates and still
    publishes them, at their stored positions (read back from the tenant log),
    so that no instance's subscribers wait for them."""
    a = cluster.start("notify-a")
    d = cluster.start("notify-d", consume=False)
    tenants = TENANTS[:4]
    clients = Clients()
    try:
        conns = [(t, clients.connect(d, t)) for t in tenants]
        producer = Producer(broker.bootstrap)
        orders = 5
        first = produce(producer, tenants, orders, 2)
        clients.wait(lambda: all(delivered(cn) >= first // len(tenants) for _, cn in conns), 60,
                     "the first events")
        redis_server.stop()
        wait_until(lambda: (a.health()[1] or {}).get("redis", {}).get("status") == "degraded",
                   15, "a: redis degraded")
        second = produce(producer, tenants, orders, 2, start_seq=2)
        db = Database(db_url)
        wait_until(lambda: (db.scalar("SELECT COUNT(*) FROM tenant_log") or 0) > first, 60,
                   "a batch to be stored but not published")
        stored = db.scalar("SELECT COUNT(*) FROM tenant_log")
        cluster.kill9(a)
        redis_server.start()
        b = cluster.start("notify-b")
        want = (first + second) // len(tenants)
        clients.wait(lambda: all(delivered(cn) >= want for _, cn in conns), 90,
                     "every event after the takeover")
        for t, cn in conns:
            assert cn.end is None
            check_stream(cn.events, want, f"client of {t}")
        # b re-published what a had stored (as duplicates) and then the rest.
        wait_until(lambda: b.metric("orderpulse_sse_bus_published_total") >= second, 30,
                   "b to publish the redelivered batch too")
        assert b.metric("orderpulse_events_duplicate_total") >= stored - first
    finally:
        clients.close()


def test_instances_start_at_once(broker, db_url, redis_server):
    """Three instances started together on an empty database: the migrations
    run once (SQLite: one writer at a time; PostgreSQL: an advisory lock), every
    instance comes up, and each exits 0."""
    env = {"REDIS_URL": redis_server.url}
    insts = [Notify(broker, db_url, extra_env=env, name=f"notify-{i}", wait=False)
             for i in range(3)]
    try:
        for n in insts:
            n.wait_ready(timeout=60)
        db = Database(db_url)
        versions = [r[0] for r in db.query("SELECT version FROM schema_migrations")]
        assert len(versions) == len(set(versions)) and versions
    finally:
        bad = [f"{n.name} exited {rc}:\n{n.log_text()[-3000:]}"
               for n in insts for rc in [n.stop()] if rc != 0]
        assert not bad, "\n".join(bad)


def test_snapshot_marker_and_replay_on_any_instance(cluster, broker):
    """The snapshot read on a --no-consume instance gives a marker that, used
    as Last-Event-ID on another instance, continues with no gap and no
    duplicate; a Last-Event-ID inside the window replays on any instance."""
    a = cluster.start("notify-a")
    d = cluster.start("notify-d", consume=False)
    tenant = "t_snap"
    clients = Clients()
    try:
        watch = clients.connect(d, tenant)
        producer = Producer(broker.bootstrap)
        produce(producer, [tenant], 4, 5)  # positions 1..20
        clients.wait(lambda: delivered(watch) >= 20, 60, "the first 20 events on d")
        r = requests.get(f"{d.url}/api/orders/snapshot",
                         headers={"Authorization": f"Bearer {token(tenant)}"}, timeout=10)
        assert r.status_code == 200
        marker = r.json()["last_event_id"]
        assert marker == "20" and len(r.json()["orders"]) == 4
        cont = clients.connect(a, tenant, last_event_id=marker)
        replay = clients.connect(d, tenant, last_event_id="10")
        produce(producer, [tenant], 4, 2, start_seq=5)  # positions 21..28
        clients.wait(lambda: delivered(cont) >= 8 and delivered(replay) >= 18, 60,
                     "the continuation and the replay")
        assert positions(cont.events) == list(range(21, 29))
        assert positions(replay.events) == list(range(11, 29))
        check_stream(watch.events, 20 + 8, "the watching client")
    finally:
        clients.close()


# ---- per-user frames (in-app notifications) over the bus ------------------------------

def api_call(inst, method, path, tok, body=None):
    return requests.request(method, f"{inst.url}{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {tok}"})


def add_user(inst, tenant, user_id, roles):
    """A user of the directory, created with the tenant owner's token (as in
    test_people.py)."""
    r = api_call(inst, "POST", "/api/users", token(tenant, sub="u_owner", roles=("Owner",)),
                 {"user_id": user_id, "email": f"{user_id}@{tenant}.example",
                  "display_name": user_id, "roles": list(roles)})
    assert r.status_code == 201, r.text


def paid_event(tenant, order):
    return order_event(tenant, order, "order_paid", "paid", reference="P-1")


def send_events(broker, events):
    p = Producer(broker.bootstrap)
    for ev in events:
        p.send(TOPIC, ev, key=ev["order_id"].encode())
    p.flush()


def notes(client):
    return [e for e in client.events if e["event"] == "notification"]


def saw_order(client, order):
    return any(e["event"] not in ("connection", "resync", "notification")
               and json.loads(e["data"])["data"]["order_id"] == order for e in client.events)


def connected(client):
    client.wait_events(lambda evs: any(e["event"] == "connection" for e in evs), 20,
                       "the connection event")


def test_notification_reaches_recipient_on_other_instance(cluster, broker):
    """The event is consumed by `a`; the owner's and a viewer's streams are on
    `d` (--no-consume) and the owner's also on `a`. Each of the owner's streams
    gets exactly one `event: notification` (no id: it has no position) for the
    order, over the bus; the viewer (not a recipient of order_paid) none; all
    get the order event."""
    a = cluster.start("notify-a")
    d = cluster.start("notify-d", consume=False)
    tenant = "t_note"
    add_user(d, tenant, "u_owner", ["Owner"])
    add_user(d, tenant, "u_viewer", ["Viewer"])
    owner_d = SSEClient(d.port, token(tenant, sub="u_owner", roles=("Owner",)))
    viewer_d = SSEClient(d.port, token(tenant, sub="u_viewer", roles=("Viewer",)))
    owner_a = SSEClient(a.port, token(tenant, sub="u_owner", roles=("Owner",)))
    clients = (owner_d, viewer_d, owner_a)
    try:
        for c in clients:
            connected(c)
        send_events(broker, [paid_event(tenant, "ord_1")])
        owner_d.wait_events(lambda evs: any(e["event"] == "notification" for e in evs), 60,
                            "the owner's notification on d")
        # A later event: the consumer publishes it after the batch before it
        # and that batch's notifications, on one connection, and every
        # instance's bus thread reads them in that order, so whatever was
        # meant for a stream was sent to it before the marker.
        send_events(broker, [order_event(tenant, "ord_marker")])
        for c in clients:
            c.wait_events(lambda evs, c=c: saw_order(c, "ord_marker"), 60, "the marker")
        for c in clients:
            assert saw_order(c, "ord_1"), c.events
        assert notes(viewer_d) == []
        for c in (owner_d, owner_a):
            got = notes(c)
            assert len(got) == 1, got
            assert "id" not in got[0], got[0]
            body = json.loads(got[0]["data"])
            assert body["data"]["order_id"] == "ord_1"
            assert body["title"] == "Order P-1 paid"
        inbox = api_call(d, "GET", "/api/notifications",
                         token(tenant, sub="u_owner", roles=("Owner",))).json()
        assert [n["notification_id"] for n in inbox["notifications"]] == [body["notification_id"]]
        assert api_call(d, "GET", "/api/notifications", token(tenant, sub="u_viewer", roles=(
            "Viewer",))).json()["notifications"] == []
        assert a.metric("orderpulse_sse_bus_resyncs_total") == 0
    finally:
        for c in clients:
            c.close()


def test_notification_inbox_survives_redis_outage(cluster, broker, redis_server):
    """Redis is down when the event is consumed: the inbox row is stored all
    the same (the live push may be lost, the inbox is not); once Redis is back
    both instances are healthy again and the owner's stream on the
    --no-consume instance goes on (the order event, a later marker, at most
    one notification)."""
    a = cluster.start("notify-a")
    d = cluster.start("notify-d", consume=False)
    tenant = "t_out"
    owner_tok = token(tenant, sub="u_owner", roles=("Owner",))
    add_user(d, tenant, "u_owner", ["Owner"])
    owner_d = SSEClient(d.port, owner_tok)
    try:
        connected(owner_d)
        redis_server.stop()
        for inst in (a, d):
            wait_until(lambda: (inst.health()[1] or {}).get("redis", {}).get("status")
                       == "degraded", 15, f"{inst.name} /health redis degraded")
        send_events(broker, [paid_event(tenant, "ord_out")])

        def inbox():
            r = api_call(d, "GET", "/api/notifications", owner_tok)
            assert r.status_code == 200, r.text
            return r.json()["notifications"]
        wait_until(lambda: len(inbox()) == 1, 60, "the notification in the inbox")
        assert inbox()[0]["order_id"] == "ord_out"
        redis_server.start()
        for inst in (a, d):
            wait_until(lambda: (inst.health()[1] or {}).get("redis", {}).get("status") == "ok",
                       30, f"{inst.name} /health redis ok again")
        send_events(broker, [order_event(tenant, "ord_marker")])
        owner_d.wait_events(lambda evs: saw_order(owner_d, "ord_marker"), 60,
                            "the marker after the outage")
        assert not owner_d.closed, "the stream ended during the outage"
        assert saw_order(owner_d, "ord_out")
        got = notes(owner_d)
        assert len(got) <= 1, got
        if got:
            assert json.loads(got[0]["data"])["data"]["order_id"] == "ord_out"
        assert len(inbox()) == 1  # the retried batch made no second notification
        for inst in (a, d):
            code, body = inst.health()
            assert code == 200 and body["status"] == "ok", (code, body)
    finally:
        owner_d.close()


class CuttingProxy:
    """A TCP proxy in front of redis-server that closes, once, the client
    connection whose requests contain `cut` (then Redis is at once reachable
    again): a connection lost exactly when a given message is published."""

    def __init__(self, redis):
        self.target = ("127.0.0.1", redis.port)
        self.cut, self.cuts = None, 0
        self.lock = threading.Lock()
        self.socks = []
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.url = f"redis://127.0.0.1:{self.srv.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                return
            u.settimeout(None)
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, False), daemon=True).start()

    def _pipe(self, src, dst, watch):
        tail = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if watch:
                    seen = tail + data
                    tail = seen[-256:]
                    with self.lock:
                        hit = self.cut is not None and self.cut in seen
                        if hit:
                            self.cut, self.cuts = None, self.cuts + 1
                    if hit:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.srv.close()
        with self.lock:
            for s in self.socks:
                s.close()


def test_lost_notification_push_leaves_health_ok(broker, db_url, redis_server):
    """Redis is lost exactly when a batch's notification is pushed (after the
    batch's events were published) and is reachable again at once: the push
    is lost (best effort), the inbox has the notification, and /health comes
    back to ok although nothing is retried (it used to stay degraded until the
    next order event)."""
    proxy = CuttingProxy(redis_server)
    cluster = Cluster(broker, db_url, proxy)
    tenant = "t_cut"
    owner_tok = token(tenant, sub="u_owner", roles=("Owner",))
    try:
        a = cluster.start("notify-a")
        add_user(a, tenant, "u_owner", ["Owner"])
        proxy.cut = f"\r\nU\n{tenant}\nu_owner\n".encode()
        send_events(broker, [paid_event(tenant, "ord_cut")])
        wait_until(lambda: proxy.cuts == 1, 60, "the push's connection to be cut")
        r = api_call(a, "GET", "/api/notifications", owner_tok)
        assert [n["order_id"] for n in r.json()["notifications"]] == ["ord_cut"]
        wait_until(lambda: (a.health()[1] or {}).get("redis", {}).get("status") == "ok", 15,
                   "a: /health redis ok with no further event")
        # and the next notification is pushed again
        owner = SSEClient(a.port, owner_tok)
        try:
            connected(owner)
            send_events(broker, [paid_event(tenant, "ord_next")])
            owner.wait_events(lambda evs: any(json.loads(e["data"])["data"]["order_id"] ==
                                              "ord_next" for e in evs
                                              if e["event"] == "notification"), 60,
                              "the next notification pushed")
        finally:
            owner.close()
    finally:
        try:
            cluster.stop_all()
        finally:
            proxy.close()
