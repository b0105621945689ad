"""Scale-out over Redis (issue 7, DESIGN.md §8): several notify instances in one
consumer group, a real redis-server started here, SSE clients spread over the
instances. Every client must receive every event of its tenant exactly once,
positions contiguous, per-order order kept, through instance moves, kill -9
of an instance and a Redis restart.

Multi-instance runs on both backends: PostgreSQL is the multi-instance
database, several processes on one SQLite file work too (one writer at a time).
"""
import json
import os
import socket
import subprocess
import time

import pytest
import requests

from harness import Database, Notify, Process, Producer, Service, free_port, run, wait_until
from sse import Fleet, token

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
