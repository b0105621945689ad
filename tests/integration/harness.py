"""Black-box helpers: run the real orderpulse binary against real servers.

Every wait is bounded; nothing sleeps to synchronise where a condition can be
polled. Processes started here are always stopped, and a process that exits
with a sanitizer report (non-zero) fails the test that started it.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from urllib.parse import urlparse

import requests

OP_BIN = os.environ.get("OP_BIN", "")
OUTPUT = os.environ.get("OP_TEST_OUTPUT", "/tmp/orderpulse-test-output")
JWT_SECRET = "test-secret-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate until it returns a truthy value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Process:
    """A subprocess whose stderr goes to a log file under the test output."""

    def __init__(self, name, args, env=None, stdout=subprocess.DEVNULL):
        os.makedirs(OUTPUT, exist_ok=True)
        self.name = name
        self.log_path = os.path.join(OUTPUT, f"{name}-{uuid.uuid4().hex[:6]}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, env=full_env, stdout=stdout, stderr=self.log,
                                     stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=30):
        """SIGTERM, then waits; returns the exit code (SIGKILL after timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.name} did not stop within {timeout}s on SIGTERM")
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Broker(Process):
    """`orderpulse broker`: the embedded Kafka-protocol dev broker."""

    def __init__(self, partitions_scale=4):
        super().__init__("broker", [OP_BIN, "broker", "--partitions-scale", str(partitions_scale)],
                         stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        assert line, f"broker printed no bootstrap list; log: {self.log_text()}"
        self.bootstrap = line


class Service(Process):
    """`orderpulse <command>` (a service) on a free port, started and awaited
    until its Kafka consumer is up (/health says kafka ok)."""

    def __init__(self, command, broker, db_url, extra_env=None, name=None, wait=True,
                 args=()):
        self.port = free_port()
        env = {"KAFKA_BROKERS": broker.bootstrap, "DATABASE_URL": db_url, "PORT": str(self.port),
               "JWT_SECRET": JWT_SECRET,
               "HTTP_HOST": "127.0.0.1", "LOG_LEVEL": "info", "KAFKA_SESSION_TIMEOUT_MS": "6000"}
        env.update(extra_env or {})
        super().__init__(name or command, [OP_BIN, command, *args], env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        if wait:
            self.wait_ready()

    def health(self):
        try:
            r = requests.get(self.url + "/health", timeout=2)
            return r.status_code, r.json()
        except (requests.ConnectionError, requests.Timeout, ValueError):
            return None, None

    def wait_ready(self, timeout=30):
        def ready():
            assert self.alive(), f"{self.name} exited early:\n{self.log_text()[-4000:]}"
            code, body = self.health()
            return code == 200 and body.get("kafka", {}).get("status") == "ok"
        wait_until(ready, timeout, f"{self.name} to consume")

    def metrics(self):
        text = requests.get(self.url + "/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
        return values

    def metric(self, name):
        """Sum of every series of one metric name (all label sets)."""
        total = 0.0
        for key, value in self.metrics().items():
            if key == name or key.startswith(name + "{"):
                total += value
        return total


class Notify(Service):
    """`orderpulse notify` on a free port, started and awaited until consuming."""

    def __init__(self, broker, db_url, extra_env=None, name="notify", wait=True):
        super().__init__("notify", broker, db_url, extra_env, name, wait)


class Database:
    """Read access to the store, on either backend, for assertions."""

    def __init__(self, url):
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite://") else "postgres"

    def query(self, sql, params=()):
        if self.kind == "sqlite":
            path = self.url[len("sqlite://"):]
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        import psycopg2
        con = psycopg2.connect(self.url)
        try:
            with con.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), params)
                return cur.fetchall()
        finally:
            con.close()

    def scalar(self, sql, params=()):
        try:
            rows = self.query(sql, params)
        except Exception:  # table not created yet, or database busy: not a value yet
            return None
        return rows[0][0] if rows else None


def order_event(tenant, order, event_type="order_created", status="created", seq=0, **payload):
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "order_id": order,
        "tenant_id": tenant,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "payload": {"status": status, "reference": f"R-{seq}", "total_amount": "129.90",
                    "currency": "EUR", "user_id": "u_1"},
    }
    body["payload"].update(payload)
    return body


class Producer:
    """A real Kafka client (python3-confluent-kafka), independent of ours."""

    def __init__(self, bootstrap):
        from confluent_kafka import Producer as KP
        self.p = KP({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5})
        self.errors = []

    def _report(self, err, msg):
        if err is not None:
            self.errors.append(err)

    def send(self, topic, value, key=None, headers=None):
        if isinstance(value, dict):
            value = json.dumps(value).encode()
        while True:
            try:
                self.p.produce(topic, value=value, key=key, headers=headers,
                               on_delivery=self._report)
                break
            except BufferError:
                self.p.poll(0.1)
        self.p.poll(0)

    def flush(self, timeout=60):
        left = self.p.flush(timeout)
        assert left == 0, f"{left} messages not delivered"
        assert not self.errors, f"delivery errors: {self.errors[:3]}"


def consume_all(bootstrap, topic, expected, timeout=30):
    """Reads at least `expected` messages of topic from the beginning."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
    finally:
        c.close()
    return out


class TcpProxy:
    """A loopback TCP forwarder that a test can cut and restore, to make a
    real server "go away" for the process under test without stopping it."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.restore()

    def restore(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self):
        """Refuses new connections and resets the open ones."""
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.conns.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def run(args, env=None, timeout=30):
    """Runs the binary to completion; returns CompletedProcess with text output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([OP_BIN] + args, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
