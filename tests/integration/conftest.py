import os
import uuid

import pytest

from harness import OP_BIN, Broker, Database

BACKENDS = os.environ.get("OP_TEST_BACKENDS", "sqlite postgres").split()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: run alone after the parallel part (scripts/run-tests.sh)")
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these database backends (a test "
        "whose subject does not depend on the database, or that only one backend serves)")


def pytest_collection_modifyitems(config, items):
    if not OP_BIN or not os.path.exists(OP_BIN):
        skip = pytest.mark.skip(reason="OP_BIN is not set to a built orderpulse binary")
        for item in items:
            item.add_marker(skip)
    keep, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("db_url") if callspec else None
        if marker and backend and backend not in marker.args:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture
def broker():
    b = Broker()
    yield b
    assert b.stop() == 0, f"broker exit code; log:\n{b.log_text()[-3000:]}"


def _pg_database(base_url):
    """A fresh database on the test server, so that every test starts empty."""
    import psycopg2
    name = "t_" + uuid.uuid4().hex[:12]
    con = psycopg2.connect(base_url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    con.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/orderpulse.db"
    base = os.environ.get("OP_TEST_PG_URL")
    if not base:
        pytest.skip("OP_TEST_PG_URL is not set (scripts/run-tests.sh starts PostgreSQL)")
    return _pg_database(base)


@pytest.fixture
def db(db_url):
    return Database(db_url)
