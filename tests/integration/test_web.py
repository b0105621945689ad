"""The dashboard's serving in `orderpulse dev`: static files from memory
(exact routes only), the dev-only session endpoints and the op_token cookie
accepted by the APIs. The page itself is tested in Chromium (tests/e2e)."""
import os

import requests

from harness import JWT_SECRET, OP_BIN, Process, free_port, wait_until

ROOT = os.path.join(os.path.dirname(__file__), "../..")


def start_dev(tmp_path, extra=None):
    port = free_port()
    env = {"PORT": str(port), "HTTP_HOST": "127.0.0.1", "JWT_SECRET": JWT_SECRET,
           "DATABASE_URL": f"sqlite://{tmp_path}/op.db", "LOG_LEVEL": "info",
           "WEB_DIR": os.path.abspath(os.path.join(ROOT, "web"))}
    env.update(extra or {})
    saved = os.environ.pop("KAFKA_BROKERS", None)
    try:
        dev = Process("dev", [OP_BIN, "dev"], env=env)
    finally:
        if saved is not None:
            os.environ["KAFKA_BROKERS"] = saved
    dev.url = f"http://127.0.0.1:{port}"

    def up():
        assert dev.alive(), dev.log_text()[-3000:]
        try:
            return requests.get(dev.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_until(up, 90, "dev to answer /health")
    return dev


def test_static_files_and_sessions(tmp_path):
    dev = start_dev(tmp_path)
    try:
        r = requests.get(dev.url + "/", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-cache"
        with open(os.path.join(ROOT, "web/index.html"), "rb") as f:
            assert r.content == f.read()
        again = requests.get(dev.url + "/index.html", headers={"If-None-Match": r.headers["ETag"]},
                             timeout=10)
        assert again.status_code == 304 and again.content == b""
        js = requests.get(dev.url + "/js/main.js", timeout=10)
        assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
        # Only the registered paths exist.
        for path in ["/js/../index.html", "/..%2fCMakeLists.txt", "/js", "/web/index.html",
                     "/index.html/", "/%2e%2e/README.md", "/js/missing.js"]:
            s = requests.Session()
            req = requests.Request("GET", dev.url + path).prepare()
            req.url = dev.url + path  # unnormalised, as sent
            assert s.send(req, timeout=10).status_code == 404, path

        users = requests.get(dev.url + "/api/dev/users", timeout=10).json()["users"]
        assert {u["user_id"] for u in users} == {"u_acme_owner", "u_acme_staff", "u_globex_owner",
                                                 "u_globex_staff"}
        assert all("token" not in u for u in users)

        assert requests.post(dev.url + "/api/dev/session", data="{}", timeout=10).status_code == 422
        assert requests.post(dev.url + "/api/dev/session", data="not json",
                             timeout=10).status_code == 422
        assert requests.post(dev.url + "/api/dev/session", json={"user_id": "u_nobody"},
                             timeout=10).status_code == 404
        assert requests.get(dev.url + "/api/dev/session", timeout=10).status_code == 401

        r = requests.post(dev.url + "/api/dev/session", json={"user_id": "u_globex_staff"},
                          timeout=10)
        assert r.status_code == 200 and r.json()["tenant_id"] == "t_globex"
        cookie = r.headers["Set-Cookie"]
        for part in ["op_token=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=86400"]:
            assert part in cookie, cookie
        jar = {"op_token": r.cookies["op_token"]}
        me = requests.get(dev.url + "/api/dev/session", cookies=jar, timeout=10)
        assert me.json()["user_id"] == "u_globex_staff"
        assert me.json()["tenant_id"] == "t_globex"
        assert me.json()["roles"] == r.json()["roles"] and len(me.json()["roles"]) == 1
        # The cookie is accepted by the order, snapshot and analytics APIs.
        placed = requests.post(dev.url + "/api/orders", cookies=jar, timeout=10,
                               headers={"Idempotency-Key": "web-1"},
                               json={"currency": "EUR", "line_items": [
                                   {"sku": "sku_cap", "qty": 1, "unit_price": "15.00"}]})
        assert placed.status_code == 201, placed.text
        assert requests.get(dev.url + "/api/orders", cookies=jar, timeout=10).status_code == 200
        assert requests.get(dev.url + "/api/orders/snapshot", cookies=jar,
                            timeout=10).json()["tenant_id"] == "t_globex"
        assert requests.get(dev.url + "/api/analytics/summary", cookies=jar,
                            timeout=10).status_code == 200

        out = requests.post(dev.url + "/api/dev/session/logout", cookies=jar, timeout=10)
        assert out.status_code == 204
        assert "op_token=;" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
        out = requests.delete(dev.url + "/api/dev/session", timeout=10)
        assert out.status_code == 204
    finally:
        assert dev.stop() == 0, dev.log_text()[-3000:]


def test_a_missing_web_dir_is_a_warning(tmp_path):
    dev = start_dev(tmp_path, {"WEB_DIR": str(tmp_path / "nothing-here")})
    try:
        assert requests.get(dev.url + "/", timeout=10).status_code == 404
        assert requests.get(dev.url + "/api/dev/users", timeout=10).status_code == 200
        assert "dashboard is not served" in dev.log_text()
    finally:
        assert dev.stop() == 0
