"""orderpulse notify: email over TLS (STARTTLS on smtp://, implicit on smtps://).

A throw-away CA and server certificates for 127.0.0.1 are made with the
openssl CLI; aiosmtpd (python3-aiosmtpd 1.4) serves TLS with them. The
mail helpers come from test_email.py.
"""
import ssl
import subprocess

import pytest

from harness import Notify, wait_until
from test_email import Handler, Smtp, queue_mail, row, start_notify

import aiosmtpd.controller as aiosmtpd_controller  # python3-aiosmtpd (scripts/install-deps.sh)

# TLS is between the sender and the server: the same on either database.
pytestmark = pytest.mark.backends("sqlite")

OPENSSL_TIMEOUT = 30


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=OPENSSL_TIMEOUT,
                   stdin=subprocess.DEVNULL)


def make_ca(d, name):
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(pem), "-days", "2",
            "-subj", f"/CN=orderpulse test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, pem


def make_server_cert(d, name, ca, san):
    """A server certificate signed by ca (key, pem) for subjectAltName san."""
    key, csr, pem, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem",
                          d / f"{name}.ext")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
            "-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext))
    return pem, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "ca")
    other = make_ca(d, "other-ca")
    return {"ca": str(ca[1]),
            "good": make_server_cert(d, "good", ca, "IP:127.0.0.1"),
            "other": make_server_cert(d, "other", other, "IP:127.0.0.1"),
            "elsewhere": make_server_cert(d, "elsewhere", ca, "DNS:mail.elsewhere.test")}


class TlsHandler(Handler):
    """Also records the TLS version each mail arrived over (None: plain)."""

    def __init__(self):
        super().__init__()
        self.tls = []

    async def handle_DATA(self, server, session, envelope):
        ssl_object = server.transport.get_extra_info("ssl_object")
        with self.lock:
            self.tls.append(ssl_object.version() if ssl_object else None)
        return await super().handle_DATA(server, session, envelope)


class TlsSmtp(Smtp):
    """aiosmtpd with STARTTLS required (smtp://) or implicit TLS (smtps://)."""

    def __init__(self, cert, implicit=False):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(*cert)
        self.implicit = implicit
        super().__init__()

    @property
    def url(self):
        return f"{'smtps' if self.implicit else 'smtp'}://127.0.0.1:{self.port}"

    def start(self):
        if not isinstance(self.handler, TlsHandler):
            self.handler = TlsHandler()
        if self.implicit:
            tls = {"ssl_context": self.ctx}
        else:  # MAIL before STARTTLS gets "530 Must issue a STARTTLS command first"
            tls = {"tls_context": self.ctx, "require_starttls": True}
        self.controller = aiosmtpd_controller.Controller(self.handler, hostname="127.0.0.1",
                                                         port=self.port, **tls)
        self.controller.start()


def delivered_over_tls(broker, db_url, db, server, **env):
    try:
        svc = start_notify(broker, db_url, server.url, **env)
        nid = queue_mail(db_url, "ann@shop.test")
        wait_until(lambda: row(db, nid)[0] == "sent", 20, "the mail sent")
        assert row(db, nid)[:3] == ("sent", 1, None)
        assert server.handler.by_rcpt() == {"ann@shop.test": 1}
        assert server.handler.tls[0] in ("TLSv1.2", "TLSv1.3")
        assert svc.health()[1]["smtp"]["status"] == "ok"
        assert svc.stop() == 0
    finally:
        server.stop()


def test_starttls_with_smtp_ca_file_delivers_over_tls(broker, db_url, db, pki):
    delivered_over_tls(broker, db_url, db, TlsSmtp(pki["good"]), SMTP_CA_FILE=pki["ca"])


def test_starttls_required_by_the_setting_delivers_over_tls(broker, db_url, db, pki):
    delivered_over_tls(broker, db_url, db, TlsSmtp(pki["good"]), SMTP_CA_FILE=pki["ca"],
                       SMTP_REQUIRE_TLS=1)


def test_smtps_implicit_tls_delivers(broker, db_url, db, pki):
    delivered_over_tls(broker, db_url, db, TlsSmtp(pki["good"], implicit=True),
                       SMTP_CA_FILE=pki["ca"])


def never_delivered(broker, db_url, db, server, reason_has, **env):
    """The mail is tried EMAIL_MAX_ATTEMPTS=2 times, then failed; returns the reason."""
    try:
        svc = start_notify(broker, db_url, server.url, EMAIL_MAX_ATTEMPTS=2, **env)
        nid = queue_mail(db_url, "ann@shop.test")
        wait_until(lambda: row(db, nid)[0] == "failed", 30, "the mail failed")
        state, attempts, reason, sent_at = row(db, nid)
        assert (state, attempts, sent_at) == ("failed", 2, None)
        assert reason_has in reason, reason
        assert server.handler.received() == []
        assert svc.health()[1]["smtp"]["status"] in ("ok", "degraded")
        assert svc.metric('orderpulse_emails_total{state="failed"}') == 1
        assert svc.stop() == 0
        return reason
    finally:
        server.stop()


def test_a_certificate_from_another_ca_is_refused(broker, db_url, db, pki):
    reason = never_delivered(broker, db_url, db, TlsSmtp(pki["other"]), "certificate",
                             SMTP_CA_FILE=pki["ca"])
    assert "issuer" in reason or "verify" in reason


def test_a_certificate_for_another_host_is_refused_on_smtps(broker, db_url, db, pki):
    never_delivered(broker, db_url, db, TlsSmtp(pki["elsewhere"], implicit=True), "certificate",
                    SMTP_CA_FILE=pki["ca"])


def test_the_system_store_does_not_trust_the_test_ca(broker, db_url, db, pki):
    never_delivered(broker, db_url, db, TlsSmtp(pki["good"]), "certificate")


def test_require_tls_against_a_plain_server_sends_nothing(broker, db_url, db):
    reason = never_delivered(broker, db_url, db, Smtp(), "TLS", SMTP_REQUIRE_TLS=1)
    assert "SMTP_REQUIRE_TLS" in reason


def test_an_unreadable_smtp_ca_file_stops_startup(broker, db_url, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    svc = Notify(broker, db_url, wait=False,
                 extra_env={"SMTP_URL": "smtp://127.0.0.1:1", "SMTP_CA_FILE": missing})
    assert svc.proc.wait(timeout=60) != 0
    assert svc.stop() != 0
    assert f"SMTP_CA_FILE {missing}" in svc.log_text()
