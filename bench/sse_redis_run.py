#!/usr/bin/python3
"""Benchmark: SSE delivery over several notify instances joined by Redis.

Starts `orderpulse broker`, a redis-server (no persistence), and N release
`orderpulse notify` instances with REDIS_URL over one SQLite file (one writer
at a time; the consumer group splits the 6 partitions of orders.events), the
first --consumers of them consuming and the rest `--no-consume`. One
build/bench_sse client (bench/sse_bench.c, forked workers) per instance holds
that instance's share of the subscribers; events are produced through Kafka
with their send time as timestamp, so latency is produce → frame parsed by the
client, whichever instance consumed the event.

Reported per run: subscribers held, deliveries/s (all clients), produce →
receipt p50/p99 (per instance; the worst instance's p99 is the figure),
misses/duplicates/resyncs (from the SSE ids: each client checks its tenant's
ids are consecutive), server RSS per connection (sum of the instances' VmRSS
growth ÷ connections), server CPU per delivery (the instances' utime+stime ÷
deliveries) and redis-server's CPU per event.

Usage (release build in build/, bench_sse built):
  bench/sse_redis_run.py --instances 1 --conns 3000 --tenants 20 --rate 200 --seconds 20 --runs 3
  bench/sse_redis_run.py --instances 3 --conns 3000 --tenants 20 --rate 200 --seconds 20 --runs 3
  bench/sse_redis_run.py --instances 6 --consumers 3 --conns 100000 --tenants 1 \
      --rate 2 --seconds 5 --runs 3
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sse_run  # noqa: E402  (sets OP_BIN, harness paths)
from sse_run import Client, cpu_s, produce, rss_kb, tenant_id, machine_busy_s, loadavg  # noqa
import harness  # noqa: E402
from harness import Broker, Process, Service, free_port, wait_until  # noqa: E402
from sse import token  # noqa: E402


class Redis(Process):
    def __init__(self, tmp):
        self.port = free_port()
        super().__init__("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", tmp])
        wait_until(self.ping, 10, "redis-server")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def run_once(args):
    tmp = tempfile.mkdtemp(prefix="orderpulse-sse-redis-")
    broker = redis = None
    insts, clients = [], []
    try:
        broker = Broker(partitions_scale=4)  # orders.events: 6 partitions
        redis = Redis(tmp)
        per = args.conns // args.instances
        env = {"REDIS_URL": "" if args.no_redis else f"redis://127.0.0.1:{redis.port}",
               "HTTP_THREADS": "2",
               "SSE_MAX_CLIENTS_PER_INSTANCE": str(per + 100), "LOG_LEVEL": "warn"}
        db = f"sqlite://{tmp}/notify.db"
        for i in range(args.instances):
            consume = i < args.consumers
            n = Service("notify", broker, db, extra_env=env, name=f"notify-{i}", wait=False,
                        args=() if consume else ("--no-consume",))
            insts.append(n)
        for i, n in enumerate(insts):
            key = "kafka" if i < args.consumers else "redis"  # --no-consume: redis ok
            wait_until(lambda: n.alive() and (n.health()[1] or {}).get(key, {}).get("status")
                       == "ok", 60, f"{n.name} ready")
        time.sleep(1)
        tokens = [token(tenant_id(k), exp_in=6 * 3600) for k in range(args.tenants)]
        rss0 = [rss_kb(n.proc.pid) for n in insts]
        t_conn = time.monotonic()
        for n in insts:
            clients.append(Client(n.port, per, tokens, args.workers))
        connect_s = time.monotonic() - t_conn
        time.sleep(3)
        rss1 = [rss_kb(n.proc.pid) for n in insts]
        held = sum(c.hello["held"] for c in clients)
        total = int(args.rate * args.seconds)
        counts = [total // args.tenants + (1 if k < total % args.tenants else 0)
                  for k in range(args.tenants)]
        for c in clients:
            for k in range(args.tenants):
                c.send(f"expect {k} 1 {counts[k]}\n")
            c.send("start\n")
        cpu0 = [cpu_s(n.proc.pid) for n in insts]
        rcpu0, busy0, t0 = cpu_s(redis.proc.pid), machine_busy_s(), time.monotonic()
        sent, produced_s = produce(broker.bootstrap, args.tenants, args.rate, args.seconds)
        assert sent == counts
        for c in clients:
            c.send(f"stop {args.wait * 1000}\n")
        rounds = [c.read_line(args.wait + 60) for c in clients]
        cpu1 = [cpu_s(n.proc.pid) for n in insts]
        rcpu1, busy1, t1 = cpu_s(redis.proc.pid), machine_busy_s(), time.monotonic()
        deliveries = sum(r["deliveries"] for r in rounds)
        rx_window = max(r["rx_window_s"] for r in rounds)
        out = {
            "instances": args.instances, "consumers": args.consumers, "redis": not args.no_redis, "conns": args.conns,
            "tenants": args.tenants, "rate_per_s": args.rate, "seconds": args.seconds,
            "held": held, "connect_s": round(connect_s, 1),
            "deliveries": deliveries,
            "deliveries_per_s": round(deliveries / max(rx_window, 1e-3)),
            "expected": sum(r["expected"] for r in rounds),
            "missed": sum(r["missed"] for r in rounds),
            "duplicates": sum(r["duplicates"] for r in rounds),
            "resyncs": sum(r["resyncs"] for r in rounds),
            "dropped_by_server": sum(r["dropped"] for r in rounds),
            "latency_p50_ms": [r["latency_ms"]["p50"] for r in rounds],
            "latency_p99_ms": [r["latency_ms"]["p99"] for r in rounds],
            "worst_p99_ms": max(r["latency_ms"]["p99"] for r in rounds),
            "median_p50_ms": statistics.median(r["latency_ms"]["p50"] for r in rounds),
            "server_rss_per_conn_bytes": round((sum(rss1) - sum(rss0)) * 1024 / max(held, 1)),
            "server_rss_kb": rss1,
            "server_cpu_us_per_delivery": round((sum(cpu1) - sum(cpu0)) /
                                                max(deliveries, 1) * 1e6, 3),
            "server_cpu_s": round(sum(cpu1) - sum(cpu0), 2),
            "redis_cpu_us_per_event": round((rcpu1 - rcpu0) / max(total, 1) * 1e6, 1),
            "machine_busy_cores": round((busy1 - busy0) / (t1 - t0), 2),
            "loadavg": loadavg(),
        }
        return out
    finally:
        for c in clients:
            c.close()
        bad = []
        for n in insts:
            rc = n.stop(timeout=90)
            if rc != 0:
                bad.append(f"{n.name} exited {rc}")
        if redis:
            redis.stop()
        if broker:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if bad:
            print(json.dumps({"stop_errors": bad}), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--consumers", type=int, default=0, help="consuming instances (0: all)")
    ap.add_argument("--conns", type=int, default=3000, help="subscribers in all")
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--workers", type=int, default=0, help="client processes per instance")
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--wait", type=int, default=60, help="seconds to wait for stragglers")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-redis", action="store_true",
                    help="baseline: one instance, in-process fan-out (no REDIS_URL)")
    args = ap.parse_args()
    if args.no_redis and args.instances != 1:
        sys.exit("--no-redis needs --instances 1")
    if args.consumers <= 0 or args.consumers > args.instances:
        args.consumers = args.instances
    runs = []
    for _ in range(args.runs):
        r = run_once(args)
        runs.append(r)
        print(json.dumps(r), flush=True)
    if args.runs > 1:
        keys = ["deliveries_per_s", "median_p50_ms", "worst_p99_ms", "server_cpu_us_per_delivery",
                "server_rss_per_conn_bytes", "missed", "redis_cpu_us_per_event"]
        print(json.dumps({"runs": args.runs,
                          "median": {k: statistics.median(r[k] for r in runs) for k in keys},
                          "all": {k: [r[k] for r in runs] for k in keys}}), flush=True)


if __name__ == "__main__":
    harness.OUTPUT = os.environ["OP_TEST_OUTPUT"]
    main()
