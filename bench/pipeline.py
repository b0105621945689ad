#!/usr/bin/python3
"""Benchmark: orders through the whole platform, on loopback.

Starts a release `orderpulse dev` (embedded broker, every service, SQLite in a
temporary directory, or DATABASE_URL), sets the stock of one sku high enough,
opens one SSE stream of the tenant, then POSTs orders at --rate/s for
--seconds from --clients processes (keep-alive connections, each order its own
Idempotency-Key). Reports:

  accepted/s   201 answers per second over the produce window
  paid/s       order_paid frames received on the stream per second, from the
               first POST until the last order_paid
  latency      POST sent -> order_paid frame received (p50/p99/max), with the
               send time taken from the client's clock (same machine)
  missing      orders accepted whose order_paid never arrived (bounded wait)

Usage:
  make build
  bench/pipeline.py --rate 1000 --seconds 60 --runs 3
"""
import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OP_BIN = os.environ.get("OP_BIN", os.path.join(ROOT, "build", "orderpulse"))
TENANT_LINE = "demo user: tenant=t_acme user=u_acme_owner"
SKU = "sku_bench"
WARMUP = {"currency": "EUR", "line_items": [{"sku": SKU, "qty": 1, "unit_price": "1.00"}]}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_dev(tmp, extra_env):
    port = free_port()
    env = dict(os.environ, PORT=str(port), HTTP_HOST="127.0.0.1", LOG_LEVEL="warn",
               DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite://{tmp}/bench.db"))
    env.update(extra_env)
    log = open(os.path.join(tmp, "dev.log"), "wb")
    proc = subprocess.Popen([OP_BIN, "dev"], stdout=subprocess.PIPE, stderr=log, env=env,
                            cwd=tmp)
    token, deadline = None, time.monotonic() + 60
    while token is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"dev did not start; see {tmp}/dev.log")
        line = proc.stdout.readline().decode()
        if line.startswith(TENANT_LINE):
            token = line.rsplit("token=", 1)[1].strip()
    return proc, port, token


def request(conn, method, path, token, body=None, key=None):
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


class Stream(threading.Thread):
    """One SSE stream; records when each order's order_paid arrived."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /api/sse/notifications HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n".encode())
        self.paid = {}
        self.stop = False

    def run(self):
        buf = b""
        while not self.stop:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                return
            if not chunk:
                return
            now = time.time()
            buf += chunk
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                if b"event: order_paid" not in frame:
                    continue
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        d = json.loads(line[6:])
                        self.paid.setdefault(d["data"]["order_id"], now)


def client(args):
    """One load process: its share of the rate, paced; returns (sent_at by order)."""
    port, token, rate, seconds, start_at = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"currency": "EUR", "line_items": [{"sku": SKU, "qty": 1, "unit_price": "4.20"}]}
    sent, errors, n = {}, 0, int(rate * seconds)
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)  # pacing: the next order is due in the future
        at = time.time()
        status, resp = request(conn, "POST", "/api/orders", token, body, uuid.uuid4().hex)
        if status == 201:
            sent[json.loads(resp)["order_id"]] = at
        else:
            errors += 1
    return sent, errors


def cpu_seconds(pid):
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds per thread name (threads of one name summed)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def one_run(opts):
    with tempfile.TemporaryDirectory() as tmp:
        proc, port, token = start_dev(tmp, {"CONSUMER_BATCH_SIZE": "5000"})
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            total = int(opts.rate * opts.seconds)
            st, body = request(conn, "PUT", f"/api/inventory/{SKU}", token,
                               {"quantity": total * 2})
            assert st == 200, body
            stream = Stream(port, token)
            stream.start()
            # Warm-up, not measured: the consumer groups of a fresh process
            # take seconds to get their partitions.
            st, body = request(conn, "POST", "/api/orders", token, WARMUP, uuid.uuid4().hex)
            assert st == 201, body
            first = json.loads(body)["order_id"]
            deadline = time.monotonic() + 60
            while first not in stream.paid:
                assert time.monotonic() < deadline, "the warm-up order was not paid in 60 s"
                time.sleep(0.05)  # polling the recorder thread, bounded
            start_at = time.time() + 0.5
            cpu0 = cpu_seconds(proc.pid)
            threads0 = thread_cpu(proc.pid)
            share = opts.rate / opts.clients
            with multiprocessing.Pool(opts.clients) as pool:
                results = pool.map(client, [(port, token, share, opts.seconds, start_at)] *
                                   opts.clients)
            sent = {}
            errors = 0
            for s, e in results:
                sent.update(s)
                errors += e
            accept_end = time.time()
            deadline = time.monotonic() + opts.drain
            while time.monotonic() < deadline and len(stream.paid.keys() & sent.keys()) < len(sent):
                time.sleep(0.1)  # polling the recorder thread's progress, bounded
            stream.stop = True
            cpu = cpu_seconds(proc.pid) - cpu0
            if opts.threads:
                t1 = thread_cpu(proc.pid)
                per = {k: round(1000 * (v - threads0.get(k, 0)) / max(1, len(sent)), 3)
                       for k, v in t1.items()}
                print(json.dumps({"cpu_ms_per_order_by_thread":
                                  dict(sorted(per.items(), key=lambda kv: -kv[1]))}))
            got = {o: stream.paid[o] - t for o, t in sent.items() if o in stream.paid}
            last = max(stream.paid[o] for o in got) if got else accept_end
            lat_ms = [v * 1000 for v in got.values()]
            return {
                "accepted_per_s": len(sent) / (accept_end - start_at),
                "paid_per_s": len(got) / (last - start_at),
                "p50_ms": pct(lat_ms, 0.50), "p99_ms": pct(lat_ms, 0.99),
                "max_ms": max(lat_ms) if lat_ms else float("nan"),
                "accepted": len(sent), "errors": errors, "missing": len(sent) - len(got),
                "server_cpu_ms_per_order": 1000 * cpu / max(1, len(sent)),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", action="store_true",
                    help="also print the server's CPU per order by thread name")
    ap.add_argument("--drain", type=float, default=120, help="max seconds to wait for order_paid")
    opts = ap.parse_args()
    runs = []
    for i in range(opts.runs):
        r = one_run(opts)
        print(json.dumps({"run": i + 1, **{k: round(v, 1) if isinstance(v, float) else v
                                           for k, v in r.items()}}), flush=True)
        runs.append(r)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({"median": {k: round(v, 1) for k, v in med.items()},
                      "rate": opts.rate, "seconds": opts.seconds}))


if __name__ == "__main__":
    sys.exit(main())
