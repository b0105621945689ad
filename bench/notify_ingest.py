#!/usr/bin/python3
"""Benchmark: orders.events → notify → durable store.

Two measurements per backend, each repeated --runs times (medians reported):
  throughput  N events are produced first, then notify starts; events/s is N
              divided by the time between the first and last event stored
              (event_records.received_at: the time the batch's transaction
              began), so the consumer-group join is not counted.
  latency     events produced at --rate per second for --seconds while notify
              runs; produce→stored latency = received_at - produce time.
Usage: bench/notify_ingest.py --db-url URL [--events N] [--rate R] [--seconds S] [--runs K]
Needs OP_BIN (a release build) and Debian's python3-confluent-kafka.
"""
import argparse
import json
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402
from harness import Broker, Database, Notify, Producer, wait_until  # noqa: E402


def fresh_db(base_url, tmpdir):
    if base_url.startswith("sqlite://"):
        return f"sqlite://{tmpdir}/bench-{uuid.uuid4().hex[:8]}.db"
    import psycopg2
    name = "bench_" + uuid.uuid4().hex[:10]
    con = psycopg2.connect(base_url)
    con.autocommit = True
    con.cursor().execute(f'CREATE DATABASE "{name}"')
    con.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


def events(n, tenants=50):
    for i in range(n):
        t = i % tenants
        order = f"ord_{t}_{i // (tenants * 4)}"
        yield {"event_id": str(uuid.uuid4()), "event_type": "order_paid", "order_id": order,
               "tenant_id": f"t_{t:02d}", "timestamp": "2026-11-23T10:00:00.000Z",
               "payload": {"status": "paid", "reference": f"A-{i}", "total_amount": "129.90",
                           "currency": "EUR", "user_id": "u_7"}}


def throughput(broker, db_url, n):
    p = Producer(broker.bootstrap)
    for ev in events(n):
        p.send("orders.events", json.dumps(ev).encode(), key=ev["order_id"].encode())
    p.flush(120)
    db = Database(db_url)
    notify = Notify(broker, db_url, extra_env={"LOG_LEVEL": "warn"})
    try:
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM event_records") == n, 300,
                   "all events stored", interval=0.2)
        lo, hi = db.query("SELECT MIN(received_at), MAX(received_at) FROM event_records")[0]
    finally:
        notify.stop()
    return n / max((hi - lo) / 1000.0, 1e-3)


def latency(broker, db_url, rate, seconds):
    db = Database(db_url)
    notify = Notify(broker, db_url, extra_env={"LOG_LEVEL": "warn"})
    p = Producer(broker.bootstrap)
    sent = {}
    try:
        start = time.monotonic()
        total = int(rate * seconds)
        for i, ev in enumerate(events(total)):
            due = start + i / rate
            while time.monotonic() < due:
                p.p.poll(0)
            sent[ev["event_id"]] = time.time() * 1000.0
            p.send("orders.events", json.dumps(ev).encode(), key=ev["order_id"].encode())
        p.flush(60)
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM event_records") == total, 120,
                   "all events stored", interval=0.2)
        rows = db.query("SELECT event_id, received_at FROM event_records")
    finally:
        notify.stop()
    lat = sorted(received - sent[eid] for eid, received in rows)
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmpdir", default="/tmp")
    args = ap.parse_args()
    tput, p50s, p99s = [], [], []
    for _ in range(args.runs):
        broker = Broker(partitions_scale=1)
        try:
            tput.append(throughput(broker, fresh_db(args.db_url, args.tmpdir), args.events))
            p50, p99 = latency(broker, fresh_db(args.db_url, args.tmpdir), args.rate,
                               args.seconds)
            p50s.append(p50)
            p99s.append(p99)
        finally:
            broker.stop()
    kind = "sqlite" if args.db_url.startswith("sqlite") else "postgres"
    print(json.dumps({"backend": kind, "events": args.events,
                      "stored_per_s_median": round(statistics.median(tput)),
                      "stored_per_s_runs": [round(x) for x in tput],
                      "latency_rate_per_s": args.rate,
                      "latency_p50_ms_median": round(statistics.median(p50s), 1),
                      "latency_p99_ms_median": round(statistics.median(p99s), 1)}))


if __name__ == "__main__":
    harness.OUTPUT = os.environ.get("OP_TEST_OUTPUT", "/tmp/orderpulse-bench")
    main()
