"""Operating orderpulse: commands, configuration errors, /health and /metrics,
and the database or broker going away while notify runs."""
import json
import os
import re
import subprocess
from urllib.parse import urlparse

import pytest
import requests

from harness import (Broker, Database, Notify, Process, Producer, TcpProxy, free_port,
                     order_event, run, wait_until)

COMMANDS = ["broker", "notify", "order", "payment", "inventory", "analytics", "migrate", "config", "dev", "validate"]


def test_help_lists_every_command_and_each_takes_help():
    out = run(["help"])
    assert out.returncode == 0
    for cmd in COMMANDS:
        assert re.search(rf"^\s+{cmd}\s", out.stdout, re.M), cmd
        sub = run([cmd, "--help"])
        assert sub.returncode == 0, (cmd, sub.stderr)
        assert sub.stdout.startswith(f"usage: orderpulse {cmd}"), cmd
    assert run(["no-such-command"]).returncode == 2


@pytest.mark.parametrize("env,args,needle", [
    ({"PORT": "eighty"}, [], "PORT"),
    ({"PORT": "70000"}, [], "PORT"),
    ({"DATABASE_URL": "mysql://db/x"}, [], "DATABASE_URL"),
    ({"LOG_LEVEL": "loud"}, [], "LOG_LEVEL"),
    ({"SSE_HEARTBEAT_SECONDS": "0"}, [], "SSE_HEARTBEAT_SECONDS"),
    ({}, ["--port"], "--port"),
    ({}, ["--no-such-flag"], "--no-such-flag"),
    ({"JWT_SECRET": ""}, [], "JWT_SECRET"),
    ({"JWT_SECRET": "short"}, [], "JWT_SECRET"),
])
def test_bad_configuration_is_one_line_and_exit_2(env, args, needle):
    env = dict({"JWT_SECRET": "a-valid-secret-of-32-bytes-long!"}, **env)
    out = run(["notify"] + args, env=env, timeout=20)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr


def test_config_prints_effective_values_with_secrets_masked():
    env = {"JWT_SECRET": "s3cr3t-value", "DATABASE_URL": "postgres://app:hunter2@db:5432/o",
           "SMTP_URL": "smtp://mail:pw-123@mx:25", "REDIS_URL": "redis://:rpass@r:6379"}
    out = run(["config", "--port", "9123"], env=env)
    assert out.returncode == 0
    for secret in ("s3cr3t-value", "hunter2", "pw-123", "rpass"):
        assert secret not in out.stdout
    values = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert values["PORT"] == "9123"
    assert values["JWT_SECRET"] == "****"
    assert values["DATABASE_URL"] == "postgres://app:****@db:5432/o"
    with open(os.path.join(os.path.dirname(__file__), "../../.env.example")) as f:
        documented = {line.split("=", 1)[0] for line in f if re.match(r"^[A-Z_]+=", line)}
    assert documented == set(values), "every setting is documented in .env.example"


def test_migrate_is_idempotent(db_url, db):
    for _ in range(2):
        out = run(["migrate"], env={"DATABASE_URL": db_url})
        assert out.returncode == 0, out.stderr
        assert "schema version" in out.stdout
    assert db.scalar("SELECT COUNT(*) FROM event_records") == 0


def test_migrate_reports_an_unreachable_database():
    out = run(["migrate"], env={"DATABASE_URL": f"postgres://x@127.0.0.1:{free_port()}/x"})
    assert out.returncode == 1
    assert out.stderr.strip() and "password" not in out.stderr


def test_health_and_metrics(broker, db_url):
    notify = Notify(broker, db_url)
    try:
        r = requests.get(notify.url + "/health", timeout=5)
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok"
        assert body["kafka"]["status"] == "ok" and body["database"]["status"] == "ok"
        m = requests.get(notify.url + "/metrics", timeout=5)
        assert m.headers["Content-Type"].startswith("text/plain")
        for name in ("orderpulse_events_consumed_total", "orderpulse_events_stored_total",
                     "orderpulse_events_duplicate_total", "orderpulse_events_dead_lettered_total",
                     "orderpulse_batch_seconds_bucket", "orderpulse_http_requests_total"):
            assert name in m.text, name
        r = requests.get(notify.url + "/nope", timeout=5)
        assert r.status_code == 404
        assert set(r.json()["error"]) == {"code", "message"}
        r = requests.post(notify.url + "/health", timeout=5)
        assert r.status_code == 405
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_consumer_lag_is_reported(broker, db_url, db):
    notify = Notify(broker, db_url)
    try:
        p = Producer(broker.bootstrap)
        for i in range(50):
            p.send("orders.events", order_event("t_lag", f"o{i}"), key=f"o{i}".encode())
        p.flush()
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM tenant_log") == 50, 30, "stored")
        lag = {k: v for k, v in notify.metrics().items() if k.startswith("orderpulse_consumer_lag{")}
        assert lag and all('topic="orders.events"' in k for k in lag)
        wait_until(lambda: notify.metric("orderpulse_consumer_lag") == 0, 10, "lag back to 0")
    finally:
        assert notify.stop() == 0


def test_database_going_away_pauses_and_loses_nothing(broker, tmp_path):
    base = os.environ.get("OP_TEST_PG_URL")
    if not base or "postgres" not in os.environ.get("OP_TEST_BACKENDS", "postgres"):
        pytest.skip("needs the PostgreSQL test server")
    import conftest
    real = conftest._pg_database(base)
    u = urlparse(real)
    proxy = TcpProxy(u.hostname, u.port)
    via_proxy = real.replace(f":{u.port}/", f":{proxy.port}/")
    db = Database(real)
    notify = Notify(broker, via_proxy)
    p = Producer(broker.bootstrap)
    try:
        first = [order_event("t_db", f"o{i}") for i in range(100)]
        for e in first:
            p.send("orders.events", e, key=e["order_id"].encode())
        p.flush()
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM tenant_log") == 100, 30, "first 100")
        proxy.cut()
        second = [order_event("t_db", f"p{i}") for i in range(200)]
        for e in second:
            p.send("orders.events", e, key=e["order_id"].encode())
        p.flush()
        wait_until(lambda: notify.health()[0] == 503, 30, "/health to report the database down")
        assert notify.health()[1]["database"]["status"] == "down"
        assert db.scalar("SELECT COUNT(*) FROM tenant_log") == 100
        assert notify.alive()
        proxy.restore()
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM tenant_log") == 300, 60,
                   "the events held back to be stored")
        wait_until(lambda: notify.health()[0] == 200, 30, "/health to recover")
        assert db.scalar("SELECT COUNT(DISTINCT event_id) FROM tenant_log") == 300
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_broker_going_away_makes_health_degraded(db_url):
    broker = Broker()
    notify = Notify(broker, db_url)
    try:
        assert broker.stop() == 0
        wait_until(lambda: notify.health()[1] and notify.health()[1]["kafka"]["status"] == "down",
                   60, "kafka down in /health")
        code, body = notify.health()
        assert code == 200 and body["status"] == "degraded"
        assert notify.alive()
    finally:
        assert notify.stop() == 0, notify.log_text()[-3000:]


def test_dev_runs_broker_and_notify_on_one_port(tmp_path):
    port = free_port()
    dev = Process("dev", [os.environ["OP_BIN"], "dev"], stdout=subprocess.PIPE,
                  env={"PORT": str(port), "DATABASE_URL": f"sqlite://{tmp_path}/dev.db",
                       "KAFKA_BROKERS": "", "KAFKA_PARTITIONS_SCALE": "8"})
    try:
        line = dev.proc.stdout.readline().decode()
        assert f"http://localhost:{port}" in line, (line, dev.log_text()[-2000:])
        bootstrap = re.search(r"kafka (\S+?)\)", line).group(1)
        assert "in memory only" in dev.log_text()
        p = Producer(bootstrap)
        p.send("orders.events", order_event("t_dev", "o1"), key=b"o1")
        p.flush()
        db = Database(f"sqlite://{tmp_path}/dev-notify.db")  # dev: a SQLite file per service
        wait_until(lambda: db.scalar("SELECT COUNT(*) FROM tenant_log") == 1, 40, "stored via dev")
        r = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert r.status_code == 200
    finally:
        assert dev.stop() == 0, dev.log_text()[-3000:]
