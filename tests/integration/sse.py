"""An SSE client of its own (raw socket, own line parser per the WHATWG
EventSource rules), and token minting with PyJWT, independent of the server."""
import json
import socket
import time

import jwt

from harness import JWT_SECRET


def token(tenant, sub="u_1", roles=("Owner",), exp_in=3600, secret=JWT_SECRET, alg="HS256",
          **extra):
    claims = {"sub": sub, "tenant_id": tenant, "roles": list(roles),
              "exp": int(time.time()) + exp_in}
    claims.update(extra)
    if tenant is None:
        claims.pop("tenant_id")
    return jwt.encode(claims, secret, algorithm=alg)


class SSEClient:
    """Connects, sends one GET, and parses the event stream as it arrives."""

    def __init__(self, port, tok=None, path="/api/sse/notifications", last_event_id=None,
                 headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        if tok:
            lines.append(f"Authorization: Bearer {tok}")
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status, self.headers = self._read_head()
        self.events = []
        self.retry = None
        self.comments = 0
        self.closed = False
        self._event = {}

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *rest = head.decode().split("\r\n")
        headers = {}
        for line in rest:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return int(first.split()[1]), headers

    def body(self):
        """For non-stream responses: reads Content-Length bytes."""
        n = int(self.headers.get("content-length", 0))
        while len(self.buf) < n:
            self.buf += self.sock.recv(65536)
        return self.buf[:n]

    def _parse(self):
        while True:
            for sep in (b"\n",):
                idx = self.buf.find(sep)
            if idx < 0:
                return
            line = self.buf[:idx].rstrip(b"\r").decode("utf-8")
            self.buf = self.buf[idx + 1:]
            if line == "":
                if "data" in self._event or "event" in self._event:
                    ev = self._event
                    ev.setdefault("event", "message")
                    self.events.append(ev)
                self._event = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    self._event["data"] = self._event["data"] + "\n" + value \
                        if "data" in self._event else value
                elif field in ("event", "id"):
                    self._event[field] = value
                elif field == "retry":
                    self.retry = int(value)

    def pump(self, timeout=0.2):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
            self.buf += chunk
        except socket.timeout:
            pass
        except OSError:
            self.closed = True
        self._parse()

    def wait_events(self, pred, timeout=20, what="events"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.events):
                return self.events
            if self.closed:
                break
            self.pump()
        raise AssertionError(f"timed out waiting for {what}; got {len(self.events)}: "
                             f"{self.events[-3:]}")

    def order_events(self):
        return [e for e in self.events if e["event"] not in ("connection", "resync")]

    def close(self):
        self.sock.close()


def data(ev):
    return json.loads(ev["data"])
