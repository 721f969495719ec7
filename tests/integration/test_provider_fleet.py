"""Issue 11's acceptance: the provider and a fleet of real gateways.

portcullis-provider serve (feed, enrolment, receipts, console, push
fan-out) and five real portcullisd on loopback, each with its HTTPS push
endpoint, enrolling itself with a one-time token (outbreak.enrol_url,
enrol_token) and announcing its push URL:

1. the five enrol (the registry lists them, with their push URLs);
2. an alert raised from the console (login, CSRF token, form) is pushed to
   all five: each is sealed and its signed receipt is recorded; mail to a
   sealed gateway is held;
3. an update uploaded from the console (multipart) releases them: each
   reports open, the clean held mail reaches the next hop byte-identical
   and the infected one is quarantined;
4. a gateway that is down while a second alert is pushed (the fan-out
   retries it, then counts it failed) gets the alert by pull when it comes
   back and its receipt is recorded.

Also, the enrolment alone: a gateway enrols once (enrolment.json, 0600) and
not again at a restart; a gateway with a spent token is refused, logs it
and does not retry.

Binaries: $PORTCULLIS_PROVIDER (else build/portcullis-provider), the daemon
and portcullis-ctl as for smtp_util.
"""

import json
import re
import signal
import time

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import check, wait_until  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from outbreak_util import ndb_line  # noqa: E402
from test_provider_cli import PROVIDER, TrustedKey, text_mail, to  # noqa: E402
from test_provider_serve import prov, table, token  # noqa: E402,F401
from test_provider_console import Client, ConsoleServer, documents, set_password  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

WAIT = 40.0
N = 5
PASSWORD = "fleet-operator-pw-1"


@pytest.fixture
def fleet_server(prov, certs):
    """serve with the console (a password set) and pushes verified with the test CA."""
    made = []

    def make(console=True):
        extra = ["--push-attempts", "3", "--push-timeout", "3s"]
        if console:
            set_password(prov, PASSWORD)
            extra += ["--push-ca", str(certs.ca)]
        s = ConsoleServer(prov, extra)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop_checked()


class Console:
    """The operator at the console (test_provider_console's Client): logs in,
    raises alerts and uploads updates through the forms."""

    def __init__(self, srv, prov):
        self.c = Client(srv)
        self.prov = prov

    def login(self, password):
        st, h, body = self.c.login(password)
        assert st == 303, (st, body)

    def _published(self, st, body, kind):
        assert st == 303, (st, body)
        doc = documents(self.prov)[-1]
        assert doc[1] == kind, doc
        return doc[2]

    def raise_alert(self, virus, mode="hold", ttl="1h", name=""):
        csrf = self.c.csrf_of(self.c.dashboard())
        st, _, body = self.c.post("/console/alert", {
            "csrf": csrf, "virus": virus, "mode": mode, "protocol": ["smtp", "ftp"],
            "protocols_sent": "1", "direction": "inbound", "ttl": ttl, "name": name})
        return self._published(st, body, "alert")

    def upload_update(self, files):
        csrf = self.c.csrf_of(self.c.dashboard())
        st, _, body = self.c.post_files("/console/update", {"csrf": csrf},
                                        [("files", n, data) for n, data in files])
        return self._published(st, body, "update")

    def state(self):
        st, _, body = self.c.get("/console/api/state")
        assert st == 200, (st, body)
        return json.loads(body)


def enrol_conf(srv, tok, i, **more):
    ob = {"enrol_url": srv.base + "/enrol", "enrol_token": tok, "gateway_id": "gw-%d" % i,
          "feed_url": srv.base + "/feed/index.json", "receipt_url": srv.base + "/receipts",
          "poll_interval": "1h", "fetch_timeout": "5s"}
    ob.update(more)
    return ob


def pub_hex_of(k):
    from cryptography.hazmat.primitives import serialization
    return k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def receipts_for(prov, mid, state):
    return {r[0]: r for r in table(prov, "receipts") if r[1] == mid and r[3] == state}


def gateways(prov):
    return {g[0]: g for g in table(prov, "gateways")}


# ------------------------------------------------------------------ tests

def test_enrols_once(prov, fleet_server, gateway_factory, sink):
    hexkey = prov.keygen()
    srv = fleet_server(console=False)
    tok = token(prov)
    gw = gateway_factory(sink, TrustedKey(PROVIDER, hexkey), outbreak=enrol_conf(srv, tok, 1))
    wait_until(lambda: "gw-1" in gateways(prov), WAIT, what="gw-1 enrolled")
    rec = json.loads((gw.state_dir / "enrolment.json").read_text())
    assert rec["gateway"] == "gw-1" and rec["provider_public_key"] == hexkey, rec
    assert rec["public_key"] == pub_hex_of(gw.gw_pub()), rec
    assert rec["push_url"] == "https://127.0.0.1:%d/outbreak" % gw.push_port, rec
    assert (gw.state_dir / "enrolment.json").stat().st_mode & 0o777 == 0o600
    enrols = srv.logtext().count("enrolled gateway gw-1")
    assert enrols == 1

    # a restart does not enrol again (the token is spent; the record says done)
    gw.stop()
    gw2 = gateway_factory.restart(gw)
    wait_until(lambda: "outbreak: enrolled with" in gw2.log(), WAIT,
               what="gw-1 finds its enrolment recorded")
    time.sleep(1.0)
    assert srv.logtext().count("/enrol: 200") == 1

    # a second gateway with the spent token: refused once, logged, not retried
    gw3 = gateway_factory(sink, TrustedKey(PROVIDER, hexkey), outbreak=enrol_conf(srv, tok, 2))
    wait_until(lambda: "enrolment with %s refused" % (srv.base + "/enrol") in gw3.log(),
               WAIT, what="gw-2's spent token refused")
    time.sleep(6.0)  # longer than the retry delay of a failed (not refused) enrolment
    assert srv.logtext().count("/enrol: 403") == 1
    assert sorted(gateways(prov)) == ["gw-1"]


def test_fleet(prov, fleet_server, gateway_factory, sink, tmp_path):
    hexkey = prov.keygen()
    srv = fleet_server()
    key = TrustedKey(PROVIDER, hexkey)

    # 1. five gateways enrol themselves
    gws = [gateway_factory(sink, key, outbreak=enrol_conf(srv, token(prov), i))
           for i in range(1, N + 1)]
    wait_until(lambda: len(gateways(prov)) == N, WAIT, what="%d gateways enrolled" % N)
    reg = gateways(prov)
    for i, gw in enumerate(gws, 1):
        assert reg["gw-%d" % i][1] == "open", reg

    # 2. an alert from the console, pushed to all, every receipt recorded
    con = Console(srv, prov)
    con.login(PASSWORD)
    virus = "Test.Fleet.Future-1"
    aid = con.raise_alert(virus=virus, mode="hold", ttl="1h", name="fleet outbreak")
    sealed = wait_until(lambda: len(receipts_for(prov, aid, "sealed")) == N and
                        receipts_for(prov, aid, "sealed"), WAIT,
                        what="%d sealed receipts for %s" % (N, aid))
    assert sorted(sealed) == ["gw-%d" % i for i in range(1, N + 1)]
    for gw in gws:
        st = gw.status()
        assert st.get("sealed") is True and [a["id"] for a in st["alerts"]] == [aid], st
    reg = gateways(prov)
    assert all(reg[g][1] == "sealed" and reg[g][3] == aid for g in reg), reg
    # the console shows them
    state = con.state()
    assert {g["id"] for g in state["gateways"]} == set(reg)

    # mail to a sealed gateway is held
    fv = future_virus("provider-fleet")
    clean = text_mail("fleet-clean", "f1@example.org")
    bad = text_mail("fleet-bad", "f2@example.org", attach=fv)
    check(send_mail(gws[0].port, "s@example.net", ["f1@example.org"], clean), 250)
    check(send_mail(gws[0].port, "s@example.net", ["f2@example.org"], bad), 250)
    wait_until(lambda: len(gws[0].held(aid)) >= 2, WAIT, what="2 held messages")
    assert not to(sink, "f1@example.org")

    # 3. an update uploaded from the console: every gateway releases and reports open
    uid = con.upload_update([("fleet.ndb", ndb_line(fv, virus).encode())])
    opened = wait_until(lambda: len(receipts_for(prov, uid, "open")) == N and
                        receipts_for(prov, uid, "open"), WAIT,
                        what="%d open receipts for %s" % (N, uid))
    assert len(opened) == N
    for gw in gws:
        wait_until(lambda: gw.status().get("sealed") is False, WAIT,
                   what="%s open" % gw.name)
    wait_until(lambda: to(sink, "f1@example.org"), WAIT, what="the clean mail released")
    (m,) = to(sink, "f1@example.org")
    assert m.data == clean
    wait_until(lambda: [q for q in gws[0].quarantine_json()
                        if "f2@example.org" in (q.get("rcpts") or [])], WAIT,
               what="the infected held mail quarantined")
    assert not to(sink, "f2@example.org")
    assert all(g[1] == "open" for g in gateways(prov).values())

    # 4. a gateway down during an alert gets it by pull when it is back
    down = gws[-1]
    down.stop()
    a2 = con.raise_alert(virus="Test.Fleet.Future-2", mode="hold", ttl="1h")
    wait_until(lambda: len(receipts_for(prov, a2, "sealed")) == N - 1, WAIT,
               what="%d sealed receipts for %s" % (N - 1, a2))
    gave_up = re.compile(r"fan-out: gw-%d \(https://127\.0\.0\.1:%d/outbreak\): .* after 3 "
                         r"attempt\(s\); it gets %s by pull" % (N, down.push_port, a2))
    wait_until(lambda: gave_up.search(srv.logtext()), WAIT,
               what="the fan-out giving up on the down gateway after 3 attempts")
    assert srv.logtext().count("fan-out: gw-%d (" % N) >= 3, "2 retries logged, then given up"
    assert "gw-%d" % N not in receipts_for(prov, a2, "sealed")
    back = gateway_factory.restart(down)
    wait_until(lambda: "gw-%d" % N in receipts_for(prov, a2, "sealed"), WAIT,
               what="the returning gateway's receipt for %s (by pull)" % a2)
    assert back.status().get("sealed") is True
    assert gateways(prov)["gw-%d" % N][1] == "sealed"


def test_key_rotation(prov, fleet_server, gateway_factory, sink, tmp_path):
    """The provider moves to a new key: gateways trusting both accept what
    either signs, in one seq order; once they drop the old key (SIGHUP),
    what the old key signs is refused."""
    old_hex = prov.keygen()
    rc, out, err = prov.run("keygen", "--out", tmp_path / "next")
    new_hex = out.strip()
    assert len(new_hex) == 64 and new_hex != old_hex
    srv = fleet_server(console=False)
    gw = gateway_factory(sink, TrustedKey(PROVIDER, old_hex), push=False, outbreak={
        "provider_keys": "%s %s" % (old_hex, tmp_path / "next.pub"),
        "feed_url": srv.base + "/feed/index.json", "receipt_url": srv.base + "/receipts",
        "poll_interval": "1s", "fetch_timeout": "5s"})
    a = prov.publish("alert", "--virus", "Test.Rotate-1", "--ttl", "1h", "--no-push")
    wait_until(lambda: gw.status().get("sealed") is True, WAIT, what="sealed (old key)")
    c = prov.publish("-k", tmp_path / "next.key", "allclear", "--alert", a["id"], "--no-push")
    assert c["seq"] > a["seq"]
    wait_until(lambda: gw.status().get("sealed") is False, WAIT, what="opened (new key)")

    # the gateways drop the old key: a document it signs is refused
    gw.conf["outbreak"]["provider_keys"] = str(tmp_path / "next.pub")
    gw.write_config()
    gw.signal(signal.SIGHUP)
    mark = gw.mark()
    a2 = prov.publish("alert", "--virus", "Test.Rotate-2", "--ttl", "1h", "--no-push")
    gw.wait_log("refused", timeout=WAIT, after=mark)
    time.sleep(1.5)
    assert gw.status().get("sealed") is False
    assert a2["id"] not in [x["id"] for x in gw.status().get("alerts", [])]
