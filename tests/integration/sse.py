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


# ---- Many connections in one process ----------------------------------------
#
# The classes below add to SSEClient (which they leave alone): an incremental
# event-stream parser that follows the WHATWG EventSource rules to the letter
# (CRLF, LF and lone CR line ends, a lone CR split across reads, the id and
# retry rules, dispatch only with data), and a client that holds thousands of
# non-blocking connections on one epoll set.

import errno
import re
import select
import struct

_LINE_END = re.compile(rb"\r\n|\r|\n")
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not exported by the socket module


class SSEParser:
    """Feeds on the bytes of an event stream (after the response head)."""

    def __init__(self, keep=True):
        self.keep = keep          # False: count events without storing them
        self.events = []
        self.count = 0
        self.comments = []
        self.retry = None
        self.last_event_id = ""
        self._buf = b""
        self._skip_lf = False
        self._bom_checked = False
        self._type = ""
        self._data = []
        self._id_in_block = None

    def feed(self, data):
        if self._skip_lf and data[:1] == b"\n":
            data = data[1:]
        self._skip_lf = False
        buf = self._buf + data
        if not self._bom_checked and len(buf) >= 3:
            self._bom_checked = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        parts = _LINE_END.split(buf)
        self._buf = parts.pop()
        if parts and buf.endswith(b"\r"):
            self._skip_lf = True  # a CR ended the last line; an LF may follow in the next read
        for raw in parts:
            self._line(raw.decode("utf-8", "replace"))

    def _line(self, line):
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._id_in_block = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)

    def _dispatch(self):
        data, etype, own_id = self._data, self._type, self._id_in_block
        self._data, self._type, self._id_in_block = [], "", None
        if not data:
            return
        self.count += 1
        if self.keep:
            ev = {"event": etype or "message", "data": "\n".join(data),
                  "last_event_id": self.last_event_id}
            if own_id is not None:
                ev["id"] = own_id
            self.events.append(ev)

    def order_events(self):
        return [e for e in self.events if e["event"] not in ("connection", "resync")]

    def at_boundary(self):
        """True when no line or event is half-received (a clean place to end)."""
        return not self._buf and not self._data and not self._type and not self._skip_lf


def request_bytes(port, tok=None, path="/api/sse/notifications", last_event_id=None,
                  headers=None, method="GET"):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    if tok:
        lines.append(f"Authorization: Bearer {tok}")
    if last_event_id is not None:
        lines.append(f"Last-Event-ID: {last_event_id}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head):
    """Status and headers (lower-case names; repeated names joined by ', ')."""
    first, *rest = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in rest:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
    return int(first.split()[1]), headers


def http_raw(port, payload, timeout=10, host="127.0.0.1"):
    """Sends raw bytes, reads one response (by Content-Length, else to EOF).
    Returns (status, headers, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(payload)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            assert time.monotonic() < deadline, f"no response head: {buf[:200]!r}"
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before the response head: {buf[:200]!r}")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        status, headers = parse_head(head)
        n = int(headers.get("content-length", "-1"))
        while n < 0 or len(body) < n:
            assert time.monotonic() < deadline, "response body not complete in time"
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body[:n] if n >= 0 else body


class FleetConn:
    """One connection of a Fleet. `end` is None while open, else how it ended:
    "eof" (the server's FIN), "reset", "refused", or "closed" (by us)."""

    __slots__ = ("fleet", "sock", "fd", "req", "state", "head", "status", "headers", "body",
                 "parser", "end", "tag", "ready", "abort", "stream_bytes")

    def __init__(self, fleet, sock, req, tag, keep, abort):
        self.fleet, self.sock, self.fd, self.req, self.tag = fleet, sock, sock.fileno(), req, tag
        self.state = "connecting"
        self.head = b""
        self.status = None
        self.headers = {}
        self.body = b""
        self.parser = SSEParser(keep)
        self.end = None
        self.ready = False
        self.abort = abort
        self.stream_bytes = 0  # body bytes of a 200 stream, as received

    @property
    def events(self):
        return self.parser.events

    def order_events(self):
        return self.parser.order_events()

    def close(self):
        self.fleet._finish(self, "closed")

    def reset(self):
        """Closes with a TCP reset (SO_LINGER 0) instead of a FIN."""
        if self.end is None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.fleet._finish(self, "closed")


class Fleet:
    """Thousands of SSE connections on one epoll set, in the calling thread.

    A connection is "ready" once it got its first event (the stream is
    subscribed), a complete non-200 answer, or ended; ready connections are
    appended to `self.ready_queue` for callers that recycle them.
    """

    def __init__(self, port, sources=("127.0.0.1",)):
        self.port = port
        self.sources = list(sources)
        self.ep = select.epoll()
        self.by_fd = {}
        self.conns = []
        self.pending = 0  # opened and not ready yet
        self.ready_queue = []
        self._next_source = 0

    def connect(self, tok=None, path="/api/sse/notifications", last_event_id=None, headers=None,
                tag=None, keep=True, abort_after_send=False, rcvbuf=None, track=True):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if len(self.sources) > 1 or self.sources[0] != "127.0.0.1":
            src = self.sources[self._next_source % len(self.sources)]
            self._next_source += 1
            s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
        c = FleetConn(self, s, request_bytes(self.port, tok, path, last_event_id, headers), tag,
                      keep, abort_after_send)
        if track:
            self.conns.append(c)
        self.by_fd[c.fd] = c
        self.pending += 1
        rc = s.connect_ex(("127.0.0.1", self.port))
        if rc not in (0, errno.EINPROGRESS):
            self._finish(c, "refused")
            return c
        self.ep.register(c.fd, select.EPOLLOUT)
        return c

    def _mark_ready(self, c):
        if not c.ready:
            c.ready = True
            self.pending -= 1
            self.ready_queue.append(c)

    def _finish(self, c, how):
        if c.end is not None:
            return
        c.end = how
        c.state = "done"
        if c.fd in self.by_fd:
            del self.by_fd[c.fd]
            try:
                self.ep.unregister(c.fd)
            except (OSError, ValueError):
                pass
        c.sock.close()
        self._mark_ready(c)

    def _on_writable(self, c):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._finish(c, "refused")
            return
        try:
            sent = c.sock.send(c.req)
        except BlockingIOError:
            return
        except OSError:
            self._finish(c, "reset")
            return
        c.req = c.req[sent:]
        if c.req:
            return
        if c.abort:
            self._finish(c, "closed")
            return
        c.state = "head"
        self.ep.modify(c.fd, select.EPOLLIN)

    def _on_readable(self, c):
        try:
            data = c.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            self._finish(c, "reset")
            return
        if not data:
            self._finish(c, "eof")
            return
        if c.state == "head":
            c.head += data
            if b"\r\n\r\n" not in c.head:
                return
            head, rest = c.head.split(b"\r\n\r\n", 1)
            c.head = head
            c.status, c.headers = parse_head(head)
            if c.status != 200:
                c.state = "body"
                data = rest
            else:
                c.state = "stream"
                if rest:
                    c.stream_bytes += len(rest)
                    c.parser.feed(rest)
                if c.parser.count:
                    self._mark_ready(c)
                return
        if c.state == "body":
            c.body += data
            if len(c.body) >= int(c.headers.get("content-length", "0")):
                self._mark_ready(c)
            return
        c.stream_bytes += len(data)
        c.parser.feed(data)
        if c.parser.count:
            self._mark_ready(c)

    def poll(self, timeout=0.05):
        for fd, mask in self.ep.poll(timeout, 4096):
            c = self.by_fd.get(fd)
            if c is None:
                continue
            if c.state == "connecting":
                self._on_writable(c)
            else:
                self._on_readable(c)

    def run_until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            if pred():
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.poll(0.05)

    def open(self, specs, window=400, timeout=60, what="connections"):
        """Opens one connection per spec (a dict of connect() arguments), at
        most `window` not ready at a time, and waits until every one is ready.
        Returns the connections, in spec order."""
        out = []
        deadline = time.monotonic() + timeout
        it = iter(specs)
        more = True
        while True:
            while more and self.pending < window:
                spec = next(it, None)
                if spec is None:
                    more = False
                    break
                out.append(self.connect(**spec))
            if not more and (self.pending == 0 or all(c.ready for c in out)):
                break
            if time.monotonic() >= deadline:
                n = sum(c.ready for c in out)
                raise AssertionError(f"timed out after {timeout}s opening {what}: "
                                     f"{n} of {len(out)} opened are ready")
            self.poll(0.05)
        self.ready_queue.clear()
        return out

    def open_count(self):
        return sum(1 for c in self.conns if c.end is None)

    def close_all(self):
        for c in list(self.by_fd.values()):
            self._finish(c, "closed")
        self.ready_queue.clear()
        self.ep.close()
