#!/usr/bin/python3
"""Benchmark: SSE delivery of notify, on loopback.

Starts `orderpulse broker` and a release `orderpulse notify` (SQLite in a
temporary directory, HTTP_THREADS=2), opens subscribers with build/bench_sse
(bench/sse_bench.c), produces order events through Kafka with
python3-confluent-kafka (each event's timestamp is its send time), and reports
from the client (connections held, deliveries/s, produce→receipt latency,
misses) and from the server (RSS per connection, CPU per delivery).

Scenarios (each run starts its own broker and notify, and stops them):
  idle        N subscribers held; server VmRSS after connecting minus before,
              divided by N; then one event per tenant checks every one is live.
  latency     N subscribers; events at --rate/s for --seconds.
  throughput  N subscribers; one round per rate of --rates on the same
              connections, until the client stops receiving what is offered.
Server CPU per delivery: notify's utime+stime (/proc/<pid>/stat) from the
first event produced until the client has every event, divided by the
deliveries the client counted. Every wait is bounded; loopback only.

Usage:
  make build && cmake --build build --target bench_sse
  bench/sse_run.py idle --conns 19900 --tenants 100 --runs 3
  bench/sse_run.py latency --conns 10000 --tenants 1 --rate 10 --seconds 30 --runs 3
  bench/sse_run.py throughput --conns 10000 --tenants 1 --rates 20,50,100,200 --seconds 15
"""
import argparse
import datetime
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("OP_BIN", os.path.join(ROOT, "build", "orderpulse"))
os.environ.setdefault("OP_TEST_OUTPUT", "/tmp/orderpulse-bench-sse")
import harness  # noqa: E402
from harness import Broker, Notify  # noqa: E402
from sse import token  # noqa: E402

BENCH_SSE = os.environ.get("BENCH_SSE", os.path.join(ROOT, "build", "bench_sse"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---- /proc --------------------------------------------------------------------

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_s():
    """CPU seconds spent not idle by the whole machine (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


def kernel_mem_kb():
    """Slab plus TCP buffer pages: the kernel's share of a socket."""
    slab = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1])
    tcp_pages = 0
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                tcp_pages = int(parts[parts.index("mem") + 1])
    return slab + tcp_pages * PAGE // 1024


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---- the client ----------------------------------------------------------------

class Client:
    """build/bench_sse, driven over its stdin; reads its JSON lines."""

    def __init__(self, port, conns, tokens, workers=0, connect_timeout=180):
        os.makedirs(harness.OUTPUT, exist_ok=True)
        self.log_path = os.path.join(harness.OUTPUT, f"bench_sse-{uuid.uuid4().hex[:6]}.log")
        self.log = open(self.log_path, "wb")
        args = [BENCH_SSE, "--port", str(port), "--conns", str(conns),
                "--connect-timeout", str(connect_timeout)]
        if workers:
            args += ["--workers", str(workers)]
        for t in tokens:
            args += ["--token", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, bufsize=0)
        self.buf = b""
        self.hello = self.read_line(connect_timeout + 30)
        self.worker_pids = self.hello["worker_pids"]

    def read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"bench_sse said nothing within {timeout}s")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    with open(self.log_path, "rb") as f:
                        raise AssertionError(f"bench_sse ended: {f.read()[-2000:]!r}")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, text):
        self.proc.stdin.write(text.encode())

    def cpu_s(self):
        return sum(cpu_s(p) for p in self.worker_pids) + cpu_s(self.proc.pid)

    def rss_kb(self):
        return sum(rss_kb(p) for p in self.worker_pids)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                for p in self.worker_pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(timeout=10)
        self.log.close()


# ---- producing ------------------------------------------------------------------

def tenant_id(k):
    return f"t_{k:03d}"


def rfc3339_ms(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def produce(bootstrap, tenants, rate, seconds):
    """Events at `rate`/s for `seconds`, tenants in turn; each timestamp is the
    send time. Returns the count per tenant and the produce window."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all",
                  "enable.idempotence": True})
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(err)

    total = int(rate * seconds)
    counts = [0] * tenants
    start = time.monotonic()
    for i in range(total):
        due = start + i / rate
        while True:
            left = due - time.monotonic()
            if left <= 0:
                break
            p.poll(min(left, 0.002))
        k = i % tenants
        counts[k] += 1
        order = f"ord_{k}_{i % 1000}"
        ev = {"event_id": str(uuid.uuid4()), "event_type": "order_paid", "order_id": order,
              "tenant_id": tenant_id(k), "timestamp": rfc3339_ms(time.time()),
              "payload": {"status": "paid", "reference": f"A-{i}", "total_amount": "129.90",
                          "currency": "EUR", "user_id": "u_7"}}
        for _ in range(1000):
            try:
                p.produce("orders.events", json.dumps(ev).encode(), key=order.encode(),
                          on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    produced_s = time.monotonic() - start
    left = p.flush(60)
    assert left == 0 and not errors, f"{left} not delivered, errors {errors[:3]}"
    return counts, produced_s


# ---- one notify under test ------------------------------------------------------

class Bench:
    def __init__(self, conns, tenants, workers, perf=None):
        self.perf = perf
        self.tmp = tempfile.mkdtemp(prefix="orderpulse-sse-")
        self.broker = self.notify = self.client = None
        self.tenants = tenants
        self.conns = conns
        self.workers = workers
        self.tokens = [token(tenant_id(k), exp_in=6 * 3600) for k in range(tenants)]
        self.positions = [0] * tenants  # a fresh database: every tenant log is empty

    def __enter__(self):
        self.broker = Broker(partitions_scale=1)
        self.notify = Notify(self.broker, f"sqlite://{self.tmp}/notify.db", extra_env={
            "HTTP_THREADS": "2", "SSE_MAX_CLIENTS_PER_INSTANCE": "1000000",
            "LOG_LEVEL": "warn"})
        self.pid = self.notify.proc.pid
        return self

    def __exit__(self, *exc):
        try:
            if self.client:
                self.client.close()
        finally:
            try:
                if self.notify:
                    self.notify.stop(timeout=60)
            finally:
                if self.broker:
                    self.broker.stop()
                shutil.rmtree(self.tmp, ignore_errors=True)

    def connect(self):
        """Opens the subscribers; returns the server-side memory figures."""
        time.sleep(1)
        rss0, kmem0 = rss_kb(self.pid), kernel_mem_kb()
        self.client = Client(self.notify.port, self.conns, self.tokens, self.workers)
        held = self.client.hello["held"]
        # Let the loops finish the first frames' writes before reading VmRSS.
        time.sleep(3)
        rss1, kmem1 = rss_kb(self.pid), kernel_mem_kb()
        return {"held": held, "failed": self.client.hello["failed"],
                "refused_503": self.client.hello["refused_503"],
                "connect_s": self.client.hello["seconds"],
                "server_rss_before_kb": rss0, "server_rss_after_kb": rss1,
                "server_rss_per_conn_bytes": round((rss1 - rss0) * 1024 / max(held, 1)),
                "kernel_per_socket_pair_bytes": round((kmem1 - kmem0) * 1024 / max(held, 1)),
                "client_rss_kb": self.client.rss_kb(),
                "server_open_files": len(os.listdir(f"/proc/{self.pid}/fd")),
                "server_connections_gauge": self.metric("orderpulse_sse_connections")}

    def metric(self, name):
        """A metric of notify, or None when it cannot answer (at its file limit)."""
        try:
            return self.notify.metric(name)
        except Exception:  # requests' errors: refused or reset when no file is left
            return None

    def last_positions(self):
        """Each tenant's newest position, from the snapshot endpoint; when notify
        has no file left to answer with, the positions counted so far."""
        import requests
        out = []
        try:
            for tok in self.tokens:
                r = requests.get(self.notify.url + "/api/orders/snapshot", timeout=10,
                                 headers={"Authorization": f"Bearer {tok}"})
                r.raise_for_status()
                out.append(int(r.json()["last_event_id"]))
        except requests.RequestException:
            return list(self.positions)
        return out

    def round(self, rate, seconds, wait_s=60):
        """Produces at `rate`/s for `seconds`; returns the client's and the
        server's figures for the round."""
        base = self.last_positions()
        total = int(rate * seconds)
        counts = [total // self.tenants + (1 if k < total % self.tenants else 0)
                  for k in range(self.tenants)]
        for k in range(self.tenants):
            self.client.send(f"expect {k} {base[k] + 1} {base[k] + counts[k]}\n")
        self.client.send("start\n")
        frames0 = self.metric("orderpulse_sse_frames_sent_total")
        drops0 = self.metric("orderpulse_sse_slow_client_drops_total")
        cpu0, ccpu0 = cpu_s(self.pid), self.client.cpu_s()
        bcpu0, mine0 = cpu_s(self.broker.proc.pid), time.process_time()
        busy0, t0 = machine_busy_s(), time.monotonic()
        perf = None
        if self.perf:
            # A CPU profile of notify over the round (perf's cpu-clock: no hardware counters).
            perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g",
                                     "-p", str(self.pid), "-o", self.perf],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sent, produced_s = produce(self.broker.bootstrap, self.tenants, rate, seconds)
            assert sent == counts, (sent, counts)
            self.positions = [base[k] + counts[k] for k in range(self.tenants)]
            self.client.send(f"stop {wait_s * 1000}\n")
            res = self.client.read_line(wait_s + 30)
        finally:
            if perf:
                perf.send_signal(signal.SIGINT)
                try:
                    perf.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    perf.kill()
                    perf.wait(timeout=10)
        cpu1, ccpu1 = cpu_s(self.pid), self.client.cpu_s()
        bcpu1, mine1 = cpu_s(self.broker.proc.pid), time.process_time()
        busy1, t1 = machine_busy_s(), time.monotonic()
        frames1 = self.metric("orderpulse_sse_frames_sent_total")
        drops1 = self.metric("orderpulse_sse_slow_client_drops_total")
        window = t1 - t0
        d = max(res["deliveries"], 1)
        ours = (cpu1 - cpu0) + (ccpu1 - ccpu0) + (bcpu1 - bcpu0) + (mine1 - mine0)
        return {
            "rate_per_s": rate, "seconds": seconds, "produced_s": round(produced_s, 2),
            "subscribers": res["held"], "offered_deliveries_per_s":
                round(sum(counts) / produced_s * self.conns / self.tenants),
            "deliveries": res["deliveries"],
            "deliveries_per_s": round(res["deliveries"] / max(res["rx_window_s"], 1e-3)),
            "latency_ms": res["latency_ms"], "expected": res["expected"],
            "missed": res["missed"], "dropped_by_server": res["dropped"],
            "server_slow_client_drops": None if None in (drops0, drops1) else drops1 - drops0, "duplicates": res["duplicates"],
            "resyncs": res["resyncs"],
            "server_frames": None if None in (frames0, frames1) else frames1 - frames0,
            "server_cpu_s": round(cpu1 - cpu0, 3),
            "server_cpu_us_per_delivery": round((cpu1 - cpu0) / d * 1e6, 3),
            "client_cpu_us_per_delivery": round((ccpu1 - ccpu0) / d * 1e6, 3),
            "window_s": round(window, 2),
            "machine_busy_cores": round((busy1 - busy0) / window, 2),
            "other_load_cores": round(max(0.0, (busy1 - busy0) - ours) / window, 2),
            "loadavg": loadavg(), "client_round": res}


# ---- scenarios -------------------------------------------------------------------

def idle(args):
    with Bench(args.conns, args.tenants, args.workers, args.perf) as b:
        out = {"scenario": "idle", "conns": args.conns, "tenants": args.tenants}
        out.update(b.connect())
        # Every subscriber live: one event per tenant reaches all of them.
        r = b.round(rate=min(args.tenants, 100), seconds=args.tenants / min(args.tenants, 100))
        out["broadcast"] = {k: r[k] for k in ("subscribers", "deliveries", "missed",
                                              "dropped_by_server", "latency_ms")}
        out["server_rss_after_broadcast_kb"] = rss_kb(b.pid)
        return out


def latency(args):
    with Bench(args.conns, args.tenants, args.workers, args.perf) as b:
        out = {"scenario": "latency", "conns": args.conns, "tenants": args.tenants}
        out.update(b.connect())
        out.update(b.round(args.rate, args.seconds))
        return out


def throughput(args):
    with Bench(args.conns, args.tenants, args.workers, args.perf) as b:
        out = {"scenario": "throughput", "conns": args.conns, "tenants": args.tenants}
        out.update(b.connect())
        out["rounds"] = []
        for rate in args.rates:
            r = b.round(rate, args.seconds)
            r.pop("client_round")
            out["rounds"].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
            saturated = (r["missed"] > 0 or r["dropped_by_server"] > 0 or
                         r["deliveries_per_s"] < 0.9 * r["offered_deliveries_per_s"])
            if saturated or b.client.hello["held"] - r["dropped_by_server"] <= 0:
                break
        best = max(out["rounds"], key=lambda r: r["deliveries_per_s"] if r["missed"] == 0
                   else 0)
        out["max_deliveries_per_s_without_misses"] = best["deliveries_per_s"]
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=["idle", "latency", "throughput"])
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--tenants", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="client processes (0: automatic)")
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                    default=[20, 50, 100, 200])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--perf", metavar="FILE", help="perf record notify over each round into FILE")
    args = ap.parse_args()
    for path in (harness.OP_BIN, BENCH_SSE):
        if not os.access(path, os.X_OK):
            sys.exit(f"{path} missing: make build && cmake --build build --target bench_sse")
    fn = {"idle": idle, "latency": latency, "throughput": throughput}[args.scenario]
    runs = []
    for i in range(args.runs):
        r = fn(args)
        runs.append(r)
        print(json.dumps(r), flush=True)
    if args.runs > 1:
        keys = {"idle": ["held", "server_rss_per_conn_bytes", "kernel_per_socket_pair_bytes"],
                "latency": ["server_cpu_us_per_delivery", "deliveries_per_s", "missed",
                            "other_load_cores"],
                "throughput": ["max_deliveries_per_s_without_misses"]}[args.scenario]
        summary = {k: [r[k] for r in runs] for k in keys}
        if args.scenario == "latency":
            for q in ("p50", "p99", "p999", "max"):
                summary[f"latency_{q}_ms"] = [r["latency_ms"][q] for r in runs]
        print(json.dumps({"scenario": args.scenario, "runs": args.runs,
                          "median": {k: statistics.median(v) for k, v in summary.items()},
                          "all": summary}), flush=True)


if __name__ == "__main__":
    harness.OUTPUT = os.environ["OP_TEST_OUTPUT"]
    main()
