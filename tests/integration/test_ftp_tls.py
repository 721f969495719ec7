"""FTP over TLS (RFC 4217) through the proxy: AUTH TLS and PROT P on the
client leg with the listener's certificate (Python's ftplib.FTP_TLS as the
client), and toward a server that offers it (vsftpd requiring TLS for the
login and the data), each leg on its own; files are still scanned."""

import ftplib
import re
import ssl

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from ftp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util", "ftp_util"]


def _tls_client(port, user=USER, passwd=PASSWD, prot=True):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = ftplib.FTP_TLS(context=ctx, timeout=20)
    c.connect("127.0.0.1", port)
    assert c.auth().startswith("234")
    assert isinstance(c.sock, ssl.SSLSocket)
    c.login(user, passwd)
    c.voidcmd("TYPE I")
    if prot:
        assert c.prot_p().startswith("200")
    return c


def _retr(c, name):
    buf = []
    r = c.retrbinary("RETR " + name, buf.append)
    return r, b"".join(buf)


def _stor(c, name, data):
    import io
    try:
        return c.storbinary("STOR " + name, io.BytesIO(data))
    except ftplib.Error as e:
        return str(e)


@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_client_leg_tls(ftp_server, ftp_proxy_factory, tls_pair, mode):
    """AUTH TLS, PBSZ, PROT P: control and data under TLS on the client
    leg; a clean file goes both ways byte-identical, EICAR is blocked with
    550; PROT C brings data back to the clear. The server (pyftpdlib, no
    TLS) is reached in the clear."""
    cert, key = tls_pair
    d = ftp_proxy_factory(server=ftp_server, ftp={"tls_cert": cert, "tls_key": key})
    data = payload(300000, 51)
    ftp_server.put("tls-down.bin", data)
    c = _tls_client(d.ftp_port)
    try:
        c.set_pasv(mode == "pasv")
        feat = c.sendcmd("FEAT")
        assert "AUTH TLS" in feat and "PROT" in feat, feat
        assert _stor(c, "tls-up.bin", data).startswith("226")
        r, got = _retr(c, "tls-down.bin")
        assert r.startswith("226") and got == data, r
        r = _stor(c, "tls-eicar.com", EICAR)
        assert r.startswith("550") and re.search(EICAR_RE, r), r
        assert c.prot_c().startswith("200")
        r, got = _retr(c, "tls-down.bin")
        assert r.startswith("226") and got == data, r
        c.quit()
    finally:
        c.close()
    assert ftp_server.get("tls-up.bin") == data
    assert not ftp_server.has("tls-eicar.com")
    d.wait_log(r"ftp\[\d+\]: client TLS up \(TLSv1\.[23]")
    # the client's AUTH, PBSZ and PROT were answered by the proxy; the
    # server saw only the proxy's own AUTH TLS (upstream_tls = may), refused
    assert ftp_server.commands(("AUTH", "PBSZ", "PROT")) == ["AUTH TLS"]


def test_tls_refused_without_certificate(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server)
    with RawFtp(d.ftp_port) as r:
        assert r.reply().startswith("220")
        assert r.cmd("AUTH TLS")[:3] == "502"
        assert r.cmd("PROT P")[:3] == "503"
        assert r.cmd("FEAT").find("AUTH TLS") < 0
    assert ftp_server.commands(("AUTH",)) == ["AUTH TLS"]  # the proxy's own try


def test_tls_commands_in_order(ftp_server, ftp_proxy_factory, tls_pair):
    cert, key = tls_pair
    d = ftp_proxy_factory(server=ftp_server, ftp={"tls_cert": cert, "tls_key": key})
    with RawFtp(d.ftp_port) as r:
        assert r.reply().startswith("220")
        assert r.cmd("PBSZ 0")[:3] == "503"
        assert r.cmd("AUTH KERBEROS")[:3] == "504"
        # a TLS handshake that never comes: the session ends on the timeout or EOF
        assert r.cmd("AUTH TLS")[:3] == "234"
    assert d.alive()


def test_server_leg_tls(vsftpd_tls_server, ftp_proxy_factory):
    """vsftpd refuses a login and data in the clear: the proxy (upstream_tls
    = may, the default) does AUTH TLS, PBSZ 0 and PROT P toward it by itself,
    while the client speaks plain FTP; files are scanned as ever."""
    v = vsftpd_tls_server
    d = ftp_proxy_factory(upstream=v.addr)
    up = payload(200000, 52)
    v.put("tls-srv-down.bin", up)
    for mode in ("pasv", "port"):
        c = FtpClient("127.0.0.1", d.ftp_port, mode, user=v.user, passwd=v.passwd)
        try:
            x = c.stor("pub/tls-srv-up-%s.bin" % mode, up)
            y = c.retr("pub/tls-srv-down.bin")
            z = c.stor("pub/tls-srv-eicar-%s.com" % mode, EICAR)
        finally:
            c.close_quietly()
        assert x.code == 226 and v.get("tls-srv-up-%s.bin" % mode) == up, x
        assert y.code == 226 and y.data == up, y
        assert z.code == 550 and not v.has("tls-srv-eicar-%s.com" % mode), z
    d.wait_log(r"server ftp:127\.0\.0\.1:\d+: TLS up")


def test_server_leg_tls_and_client_tls(vsftpd_tls_server, ftp_proxy_factory, tls_pair):
    """Both legs under TLS, each with its own session."""
    v = vsftpd_tls_server
    cert, key = tls_pair
    d = ftp_proxy_factory(upstream=v.addr, ftp={"tls_cert": cert, "tls_key": key})
    data = payload(100000, 53)
    c = _tls_client(d.ftp_port, user=v.user, passwd=v.passwd)
    try:
        assert _stor(c, "pub/both.bin", data).startswith("226")
        r, got = _retr(c, "pub/both.bin")
        assert r.startswith("226") and got == data, r
        c.quit()
    finally:
        c.close()


def test_upstream_tls_require(ftp_server, ftp_proxy_factory):
    """upstream_tls = require toward a server without TLS: 421, and the
    client's password never goes to that server."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"upstream_tls": "require"})
    with RawFtp(d.ftp_port) as r:
        first = r.reply()
        assert first.startswith("421"), first
    assert not ftp_server.commands(("USER", "PASS"))
