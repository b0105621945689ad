"""SSE delivery at scale and under abuse, against the real binary, with clients
that are not ours: curl, and a Python client holding thousands of non-blocking
connections on one epoll set with its own WHATWG event-stream parser.

Pure delivery tests run on SQLite only (the storage backend does not change
what they exercise); tests whose outcome depends on reading the store back
(replay, resync, snapshot markers) run on every backend of OP_TEST_BACKENDS.
"""
import json
import os
import resource
import select
import signal
import socket
import subprocess
import time

import pytest

from harness import Notify, Producer, order_event, wait_until
from sse import Fleet, SSEParser, data, http_raw, request_bytes, token

SSE_PATH = "/api/sse/notifications"
LOOPBACK_SOURCES = [f"127.0.0.{i}" for i in range(1, 9)]


# ---- fixtures and helpers ----------------------------------------------------

@pytest.fixture
def sqlite_url(tmp_path):
    """SQLite only: for tests of delivery that storage does not influence."""
    return f"sqlite://{tmp_path}/orderpulse.db"


@pytest.fixture
def start_notify(broker):
    """Starts notify processes; each must exit 0 (no sanitizer report) at teardown."""
    started = []

    def start(db_url, env=None, kafka=True):
        n = Notify(broker, db_url, extra_env=env, wait=False)
        started.append(n)
        if kafka:
            n.wait_ready()
        else:
            def serving():
                assert n.alive(), f"notify exited early:\n{n.log_text()[-4000:]}"
                return n.health()[0] == 200
            wait_until(serving, 30, "notify to serve HTTP")
        return n

    yield start
    bad = []
    for n in started:
        rc = n.stop()
        if rc != 0:
            bad.append(f"{n.name} exited {rc}:\n{n.log_text()[-4000:]}")
    assert not bad, "\n".join(bad)


def publish(broker, events):
    p = Producer(broker.bootstrap)
    for e in events:
        p.send("orders.events", e, key=e["order_id"].encode())
    p.flush()


def sse_gauge(n):
    return n.metric("orderpulse_sse_connections")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def read_until_end(sock, timeout):
    """Reads until the peer ends the stream; returns (bytes, "eof" | "reset").
    Fails if neither happens within timeout seconds."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"stream still open after {timeout}s ({len(got)} bytes read)"
        sock.settimeout(left)
        try:
            chunk = sock.recv(262144)
        except ConnectionResetError:
            return got, "reset"
        except socket.timeout:
            continue
        if not chunk:
            return got, "eof"
        got += chunk


def split_head(raw):
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head, rest


# ---- 1. curl as the client ---------------------------------------------------

class CurlStream:
    """`curl -sN` reading a stream; its stdout is parsed as it arrives."""

    def __init__(self, url, headers):
        args = ["curl", "-sN", "--max-time", "120"]
        for h in headers:
            args += ["-H", h]
        self.proc = subprocess.Popen(args + [url], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.parser = SSEParser()
        self.raw = b""

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not pred(self.parser.events):
            left = deadline - time.monotonic()
            assert left > 0, f"curl: timed out waiting for {what}; got {self.raw[-600:]!r}"
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            assert chunk, f"curl ended (rc={self.proc.poll()}) before {what}: {self.raw[-600:]!r}"
            self.raw += chunk
            self.parser.feed(chunk)
        return self.parser.events

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def test_curl_receives_live_and_replayed_events(broker, sqlite_url, start_notify):
    n = start_notify(sqlite_url)
    tok = token("t_curl")
    live = CurlStream(n.url + SSE_PATH, [f"Authorization: Bearer {tok}"])
    try:
        live.wait(lambda evs: evs, 10, "the connection event")
        assert live.parser.retry == 3000
        assert live.parser.events[0]["event"] == "connection"
        assert data(live.parser.events[0])["tenant_id"] == "t_curl"
        ev = order_event("t_curl", "o_curl", reference="curl-ref")
        publish(broker, [ev])
        live.wait(lambda evs: any(e["event"] == "order_created" for e in evs), 15,
                  "event: order_created")
        got = [e for e in live.parser.events if e["event"] == "order_created"]
        assert len(got) == 1 and got[0]["id"] == "1"
        body = data(got[0])
        assert body["id"] == ev["event_id"]
        assert body["data"]["order_id"] == "o_curl" and body["data"]["reference"] == "curl-ref"
    finally:
        live.stop()
    # The token in the query string and Last-Event-ID as a header: the way a
    # browser's EventSource reconnects to the other path.
    replay = CurlStream(f"{n.url}/events/stream?access_token={tok}", ["Last-Event-ID: 0"])
    try:
        evs = replay.wait(lambda evs: len(evs) >= 2, 10, "the replayed event")
        assert [e["event"] for e in evs[:2]] == ["connection", "order_created"]
        assert evs[1]["id"] == "1" and data(evs[1])["id"] == ev["event_id"]
    finally:
        replay.stop()


# ---- 2. ten thousand streams -------------------------------------------------

BIG = "t_big"
SMALL = [f"t_small_{i}" for i in range(10)]
N_BIG, N_PER_SMALL = 9900, 10


def test_ten_thousand_streams_all_receive_one_broadcast_exactly_once(broker, sqlite_url,
                                                                     start_notify):
    hard = raise_nofile()
    assert hard >= 10500, f"RLIMIT_NOFILE hard limit {hard} is too low for 10,000 streams"
    started = time.monotonic()
    # Connections are opened while the consumer joins its group.
    n = start_notify(sqlite_url, {"HTTP_THREADS": "2", "SSE_MAX_CLIENTS_PER_INSTANCE": "12000"},
                     kafka=False)
    fleet = Fleet(n.port, LOOPBACK_SOURCES)
    try:
        big_tok = token(BIG)
        specs = [dict(tok=big_tok, tag=BIG) for _ in range(N_BIG)]
        specs += [dict(tok=token(t), tag=t) for t in SMALL for _ in range(N_PER_SMALL)]
        conns = fleet.open(specs, window=500, timeout=40, what="10,000 streams")
        opened = time.monotonic()
        bad = [c for c in conns if c.status != 200 or c.end is not None
               or c.events[0]["event"] != "connection"]
        assert not bad, f"{len(bad)} streams not opened, e.g. {bad[0].status} {bad[0].end} " \
                        f"{bad[0].body[:200]!r}"
        assert all(data(c.events[0])["tenant_id"] == c.tag for c in conns)
        wait_until(lambda: sse_gauge(n) == 10000, 10, "the gauge at 10,000")
        assert n.health()[1]["sse"]["connections"] == 10000
        n.wait_ready()

        big = [c for c in conns if c.tag == BIG]
        small = [c for c in conns if c.tag != BIG]
        first = order_event(BIG, "o_big", seq=1)
        publish(broker, [first])
        t_pub = time.monotonic()
        fleet.run_until(lambda: all(len(c.events) >= 2 for c in big), 30,
                        "the broadcast on every stream of t_big")
        delivered = time.monotonic() - t_pub
        # A second event of the same order (same partition, next position)
        # marks the end: once every stream has it, no duplicate of the first
        # can still be on its way.
        second = order_event(BIG, "o_big", "order_paid", "paid", seq=2)
        publish(broker, [second])
        fleet.run_until(lambda: all(len(c.events) >= 3 for c in big), 30, "the second event")
        expected = [("1", first["event_id"]), ("2", second["event_id"])]
        wrong = [c for c in big
                 if [(e.get("id"), data(e)["id"]) for e in c.order_events()] != expected]
        assert not wrong, f"{len(wrong)} streams saw {wrong[0].order_events()}"
        # Other tenants' streams got none of it; each gets its own event only.
        assert all(len(c.events) == 1 for c in small)
        own = {t: order_event(t, f"o_{t}") for t in SMALL}
        publish(broker, list(own.values()))
        fleet.run_until(lambda: all(len(c.events) >= 2 for c in small), 30, "small tenants")
        for c in small:
            assert [data(e)["id"] for e in c.order_events()] == [own[c.tag]["event_id"]]
        assert all(c.end is None for c in conns), "a stream ended during the test"
        print(f"\n10k streams: opened in {opened - started:.1f}s, broadcast delivered to all "
              f"in {delivered:.2f}s")
    finally:
        fleet.close_all()
    wait_until(lambda: sse_gauge(n) == 0, 30, "the gauge back at 0", interval=0.2)
    assert n.health()[1]["sse"]["connections"] == 0
