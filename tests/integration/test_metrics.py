"""[metrics]: /metrics in Prometheus's text format (read back with
Prometheus's own parser, python3-prometheus-client) counts exactly what the
test sent through the SMTP and FTP proxies; /healthz checks the engine,
the spool's free space and every next hop; the listener has its own
allow-list."""
import http.client
import json
import re
import signal

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import (REPO, Client, b64_part, check, closed_port, free_port,  # noqa: E402
                       headers, multipart, part, wait_until)
from ftp_util import *  # noqa: E402,F401,F403
from ftp_util import FtpClient  # noqa: E402
from samples_build import eicar  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util"]


def get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode()
    finally:
        c.close()


def scrape(port):
    """{(name, frozenset(labels.items())): value} of every sample, parsed by
    Prometheus's parser; also checks each family has HELP and TYPE."""
    st, ctype, text = get(port, "/metrics")
    assert st == 200, text
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.documentation, fam.name
        assert fam.type in ("counter", "gauge", "histogram"), (fam.name, fam.type)
        assert fam.name.startswith("portcullis_"), fam.name
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0)


def mail(port, subject, attach=None, source=None):
    body = headers(subject) + b"\r\n"
    if attach is not None:
        body = multipart([part("text/plain", b"see attached\r\n"),
                          b64_part(attach, "a.com")], subject=subject)
    with Client(port, source=source) as c:
        c.banner()
        c.ehlo()
        r = c.mail("sender@example.net", ["rcpt@example.org"], body)
        c.quit()
    return r


@pytest.fixture
def metrics_port():
    return free_port()


def test_metrics_count_what_was_sent(sink, proxy_factory, metrics_port):
    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port},
                      smtp={"clients": "127.0.0.1/32"})
    before = scrape(metrics_port)
    assert val(before, "portcullis_messages_total", protocol="smtp", direction="inbound",
               verdict="clean", action="pass") == 0
    assert val(before, "portcullis_signatures", kind="body") > 0
    assert val(before, "portcullis_quarantine_items") == 0

    check(mail(d.port, "clean one"), 250)
    check(mail(d.port, "clean two"), 250)
    check(mail(d.port, "infected", attach=eicar()), 250)  # inbound: quarantine
    with Client(d.port, source="127.0.0.2") as c:
        check(c.banner(None), "554")
    sink.wait_messages(2)
    d.wait_log(r"refused client=127\.0\.0\.2")

    m = scrape(metrics_port)
    assert val(m, "portcullis_sessions_total", protocol="smtp", listener="smtp") == 4
    assert val(m, "portcullis_sessions_refused_total", protocol="smtp",
               reason="not-allowed") == 1
    assert val(m, "portcullis_messages_total", protocol="smtp", direction="inbound",
               verdict="clean", action="pass") == 2
    assert val(m, "portcullis_messages_total", protocol="smtp", direction="inbound",
               verdict="infected", action="quarantine") == 1
    assert val(m, "portcullis_scan_duration_seconds_count", protocol="smtp") == 3
    assert val(m, "portcullis_scan_duration_seconds_bucket", protocol="smtp", le="+Inf") == 3
    assert val(m, "portcullis_object_size_bytes_count", protocol="smtp") == 3
    assert val(m, "portcullis_object_size_bytes_sum", protocol="smtp") > 3 * 50
    assert val(m, "portcullis_quarantine_items") == 1
    assert val(m, "portcullis_quarantine_bytes") > 68
    assert val(m, "portcullis_signatures_age_seconds") >= 0

    # a reload is counted
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload: configuration and signatures reloaded")
    assert val(scrape(metrics_port), "portcullis_reloads_total", result="ok") == 1


def test_metrics_failures(proxy_factory, metrics_port, tmp_path):
    """A next hop that is down: the client gets 4xx, the failure is counted
    by cause and class."""
    d = proxy_factory(maildir=tmp_path / "unused",
                      smtp={"next_hop": "smtp:127.0.0.1:%d" % closed_port()},
                      metrics={"listen": "127.0.0.1:%d" % metrics_port})
    with Client(d.port) as c:
        check(c.reply(), "421 4.4.1")
    wait_until(lambda: val(scrape(metrics_port), "portcullis_failures_total", cause="next_hop",
                           **{"class": "connect"}) == 1, 10, 0.1, "the failure counted")


def test_ftp_files_counted(ftp_server, ftp_proxy_factory, metrics_port):
    d = ftp_proxy_factory(server=ftp_server, metrics={"listen": "127.0.0.1:%d" % metrics_port})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", timeout=10)
    try:
        x = c.stor("clean.txt", b"just text\n" * 10)
        assert x.code == 226, x
        x = c.stor("bad.com", eicar())
        assert x.code != 226 and x.code >= 400, x
    finally:
        c.close_quietly()
    m = scrape(metrics_port)
    files = {k: v for k, v in m.items() if k[0] == "portcullis_files_total"}
    assert sum(files.values()) == 2, files
    assert val(m, "portcullis_files_total", protocol="ftp", direction="inbound",
               verdict="clean", action="pass") == 1, files
    assert sum(v for k, v in files.items() if ("verdict", "infected") in k[1]) == 1, files
    assert val(m, "portcullis_sessions_total", protocol="ftp", listener="ftp") == 1
    assert val(m, "portcullis_scan_duration_seconds_count", protocol="ftp") == 2


def test_healthz(sink, proxy_factory, metrics_port):
    """ok with every next hop up; 503 naming the failing check when a next
    hop refuses connections or the spool has less free space than
    min_free_space."""
    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port})
    st, ctype, body = get(metrics_port, "/healthz")
    assert st == 200, body
    h = json.loads(body)
    assert h["status"] == "ok" and {c["check"] for c in h["checks"]} == \
        {"engine", "spool", "next_hop smtp"}, h
    d.stop()
    d.stopped_by_test = True

    dead = closed_port()
    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port,
                                          "health_timeout": "1s"},
                      smtp__dead={"listen": "127.0.0.1:%d" % free_port(),
                                  "next_hop": "smtp:127.0.0.1:%d" % dead})
    st, _, body = get(metrics_port, "/healthz")
    assert st == 503, body
    h = json.loads(body)
    bad = [c for c in h["checks"] if not c["ok"]]
    assert h["status"] == "fail" and [c["check"] for c in bad] == ["next_hop dead"], h
    assert "127.0.0.1:%d" % dead in bad[0]["detail"]
    d.stop()
    d.stopped_by_test = True

    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port,
                                          "min_free_space": "1024G"})
    st, _, body = get(metrics_port, "/healthz")
    assert st == 503, body
    bad = [c for c in json.loads(body)["checks"] if not c["ok"]]
    assert [c["check"] for c in bad] == ["spool"] and "min_free_space" in bad[0]["detail"]


def test_metrics_allow_list_and_routes(sink, proxy_factory, metrics_port):
    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port,
                                          "clients": "10.0.0.0/8"})
    st, _, body = get(metrics_port, "/metrics")
    assert st == 403, body
    d.wait_log(r"metrics: request from 127\.0\.0\.1 refused: not in metrics\.clients")
    d.stop()
    d.stopped_by_test = True
    d = proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port})
    assert get(metrics_port, "/metrics", "POST")[0] == 405
    assert get(metrics_port, "/nothing")[0] == 404
    # off by default: no listener
    assert "metrics" not in proxy_factory(sink=sink).conf


def test_dashboard_uses_exported_names(sink, proxy_factory, metrics_port):
    """contrib/grafana-portcullis.json asks only for families /metrics has."""
    proxy_factory(sink=sink, metrics={"listen": "127.0.0.1:%d" % metrics_port})
    st, _, text = get(metrics_port, "/metrics")
    families = {f.name for f in text_string_to_metric_families(text)}
    dash = json.loads((REPO / "contrib" / "grafana-portcullis.json").read_text())
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            used |= set(re.findall(r"portcullis_[a-z_]+", t["expr"]))
    used = {re.sub(r"_(bucket|sum|count)$", "", u) for u in used}
    # the parser names counters without _total
    families |= {f + "_total" for f in families}
    assert used and used <= families, used - families
