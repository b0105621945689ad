"""The dashboard's serving in `orderpulse dev` and in notify/order: static
files from memory (exact routes only), the dev-only session endpoints, the
token sign-in (/api/session) and the op_token cookie accepted by the APIs.
The page itself is tested in Chromium (tests/e2e)."""
import base64
import json
import os
import time

import requests

from harness import JWT_SECRET, OP_BIN, Process, Service, free_port, wait_until
from sse import token

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


# ---- production serving: notify / order with the token sign-in ----------------

WEB_DIR = os.path.abspath(os.path.join(ROOT, "web"))


def _unsigned(claims):
    def b64(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def test_notify_serves_the_page_and_signs_in_with_a_token(broker, tmp_path):
    svc = Service("notify", broker, f"sqlite://{tmp_path}/notify.db", {"WEB_DIR": WEB_DIR})
    try:
        page = requests.get(svc.url + "/", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert b'id="token-form"' in page.content
        assert requests.get(svc.url + "/js/session.js", timeout=10).status_code == 200
        # No demo users in production: the page shows the token form.
        assert requests.get(svc.url + "/api/dev/users", timeout=10).status_code == 404
        assert requests.post(svc.url + "/api/dev/session", json={"user_id": "u_acme_owner"},
                             timeout=10).status_code == 404
        assert requests.get(svc.url + "/api/session", timeout=10).status_code == 401

        tok = token("t_web", sub="u_web", roles=("Owner", "Cashier"), exp_in=3600)
        r = requests.post(svc.url + "/api/session", json={"token": tok}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["user_id"] == "u_web" and r.json()["tenant_id"] == "t_web"
        assert r.json()["roles"] == ["Owner", "Cashier"]
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith(f"op_token={tok};"), cookie
        for part in ["HttpOnly", "SameSite=Strict", "Path=/"]:
            assert part in cookie, cookie
        assert "Secure" not in cookie  # plain HTTP, no proxy saying https
        max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
        assert 3500 <= max_age <= 3600, cookie
        assert r.headers["Cache-Control"] == "no-store"
        jar = {"op_token": r.cookies["op_token"]}
        me = requests.get(svc.url + "/api/session", cookies=jar, timeout=10)
        assert me.status_code == 200 and me.json()["user_id"] == "u_web"
        snap = requests.get(svc.url + "/api/orders/snapshot", cookies=jar, timeout=10)
        assert snap.status_code == 200 and snap.json()["tenant_id"] == "t_web"

        # Behind a proxy terminating TLS the cookie is Secure.
        r = requests.post(svc.url + "/api/session", json={"token": tok}, timeout=10,
                          headers={"X-Forwarded-Proto": "https"})
        assert r.status_code == 200 and "; Secure" in r.headers["Set-Cookie"]

        # Refused exactly as the APIs refuse them: 401, no cookie, no echo.
        now = int(time.time())
        bad = {
            "expired": token("t_web", exp_in=-3600),
            "wrong alg": token("t_web", alg="HS512"),
            "wrong secret": token("t_web", secret="another-secret-0123456789abcdef"),
            "alg none": _unsigned({"sub": "u", "tenant_id": "t_web", "exp": now + 600}),
            "garbage": "not-a-token",
            "cookie injection": tok + "; Domain=evil.example",
            "empty": "",
        }
        for what, value in bad.items():
            r = requests.post(svc.url + "/api/session", json={"token": value}, timeout=10)
            assert r.status_code == 401, (what, r.status_code, r.text)
            assert "Set-Cookie" not in r.headers, what
            assert r.json()["error"]["code"] == "unauthorized"
            assert not value or value not in r.text, what
        for body in [b"{}", b"not json", b'{"token": 42}']:
            r = requests.post(svc.url + "/api/session", data=body, timeout=10,
                              headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and "Set-Cookie" not in r.headers, body
        # Only JSON: another site's form (text/plain, urlencoded) cannot sign in.
        for ctype in ["text/plain", "application/x-www-form-urlencoded", None]:
            headers = {"Content-Type": ctype} if ctype else {}
            r = requests.post(svc.url + "/api/session", data=json.dumps({"token": tok}),
                              headers=headers, timeout=10)
            assert r.status_code == 415 and "Set-Cookie" not in r.headers, ctype

        out = requests.post(svc.url + "/api/session/logout", cookies=jar, timeout=10)
        assert out.status_code == 204
        assert out.headers["Set-Cookie"].startswith("op_token=;")
        assert "Max-Age=0" in out.headers["Set-Cookie"]
        assert requests.delete(svc.url + "/api/session", timeout=10).status_code == 204
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_order_without_web_dir_runs_and_says_so_once(broker, tmp_path):
    svc = Service("order", broker, f"sqlite://{tmp_path}/order.db",
                  {"WEB_DIR": str(tmp_path / "no-web")})
    try:
        assert requests.get(svc.url + "/", timeout=10).status_code == 404
        tok = token("t_web", sub="u_web")
        r = requests.post(svc.url + "/api/session", json={"token": tok}, timeout=10)
        assert r.status_code == 200 and "HttpOnly" in r.headers["Set-Cookie"]
        listed = requests.get(svc.url + "/api/orders", cookies={"op_token": tok}, timeout=10)
        assert listed.status_code == 200
        lines = [x for x in svc.log_text().splitlines() if "dashboard is not served" in x]
        assert len(lines) == 1 and '"level":"info"' in lines[0], lines
    finally:
        assert svc.stop() == 0, svc.log_text()[-3000:]


def test_dev_has_both_sign_ins_and_serves_the_page_once(tmp_path):
    dev = start_dev(tmp_path)
    try:
        assert requests.get(dev.url + "/", timeout=10).status_code == 200
        assert requests.get(dev.url + "/api/dev/users", timeout=10).status_code == 200
        r = requests.post(dev.url + "/api/session", json={"token": token("t_acme", sub="u_x")},
                          timeout=10)
        assert r.status_code == 200 and r.json()["tenant_id"] == "t_acme"
        demo = requests.post(dev.url + "/api/dev/session", json={"user_id": "u_acme_owner"},
                             timeout=10)
        jar = {"op_token": demo.cookies["op_token"]}
        assert requests.get(dev.url + "/api/session", cookies=jar,
                            timeout=10).json()["user_id"] == "u_acme_owner"
        assert dev.log_text().count("serving the dashboard") == 1
    finally:
        assert dev.stop() == 0, dev.log_text()[-3000:]
