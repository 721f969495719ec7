"""The daemon as a whole: privilege drop, SIGHUP reload with sessions open,
SIGTERM draining an in-flight session, and 50 concurrent sessions sending
1,000 messages, each delivered, rejected or quarantined exactly once."""

import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util"]

SMALL = headers("small") + b"\r\nsmall body\r\n"
INFECTED = multipart([part("text/plain", b"hi\r\n"), b64_part(EICAR, "eicar.com")])


def _status_ids(pid):
    st = Path("/proc/%d/status" % pid).read_text()
    uid = [int(x) for x in re.search(r"^Uid:\s+(.*)$", st, re.M).group(1).split()]
    gid = [int(x) for x in re.search(r"^Gid:\s+(.*)$", st, re.M).group(1).split()]
    groups = re.search(r"^Groups:[ \t]*(.*)$", st, re.M).group(1).split()
    return uid, gid, groups


def test_privilege_drop(sink, proxy_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    try:
        import pwd
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    # After the drop the daemon reads the signatures and templates (and its
    # compiled-database cache) as nobody. Neither the checkout (a clone in
    # /root is 0700) nor pytest's tmp dirs (0700 root) are readable then:
    # it gets copies under a 0755 dir in /tmp, with their own modes set.
    base = Path(tempfile.mkdtemp(prefix="portcullis-priv-", dir="/tmp"))
    try:
        base.chmod(0o755)
        for name in ("sigs", "templates"):
            shutil.copytree(REPO / name, base / name)
            (base / name).chmod(0o755)
            for f in (base / name).iterdir():
                f.chmod(0o644)
        d = proxy_factory(sink=sink, tmp=base / "d", daemon={"user": "nobody"},
                          scan={"database_dir": base / "sigs", "cache_dir": base / "cache"},
                          notify={"template_dir": base / "templates"},
                          inbound={"infected": "quarantine"})
        d.wait_log(r"privileges dropped to user nobody")
        ready = d.mark()
        assert any("ready listeners=" in l for l in d.lines[:ready])
        uid, gid, groups = _status_ids(d.proc.pid)
        assert uid == [nobody.pw_uid] * 4, "Uid (real, effective, saved, fs): %r" % uid
        assert gid == [nobody.pw_gid] * 4, "Gid: %r" % gid
        assert groups in ([], [str(nobody.pw_gid)]), "supplementary groups kept: %r" % groups
        # the directories it created are its own and usable
        for p in (d.spool_dir, d.qdir, base / "cache"):
            assert p.stat().st_uid == nobody.pw_uid, "%s owned by uid %d" % (p, p.stat().st_uid)
        with Client(d.port) as c:
            c.banner()
            c.ehlo()
            check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
            r = c.mail("sender@example.net", ["rcpt@example.org"], INFECTED)
            qid = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE,
                               r.first).group(1)
            c.quit()
        emls = list(d.qdir.rglob(qid + ".eml"))
        assert len(emls) == 1 and emls[0].stat().st_uid == nobody.pw_uid
        assert emls[0].read_bytes() == INFECTED
        assert len(sink.wait_messages(1)) == 1
        uid, _, _ = _status_ids(d.proc.pid)
        assert uid == [nobody.pw_uid] * 4
        d.stopped_by_test = True
        assert d.stop() == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unknown_user_refused(sink, proxy_factory):
    d = proxy_factory(sink=sink, start=False, daemon={"user": "no-such-user-portcullis"})
    d.start(expect_ready=False)
    d.proc.wait(10)
    d.stopped_by_test = True
    assert d.proc.returncode != 0
    assert "ready listeners=" not in d.log()


def test_syslog_key_honoured_in_foreground(sink, proxy_factory):
    """[log] syslog = yes sends the log to syslog even with -f: stderr stays
    silent while the daemon serves (it used to be ignored in the foreground)."""
    d = proxy_factory(sink=sink, start=False, log={"syslog": "yes", "verdicts": "yes"})
    d.start(expect_ready=False)
    deadline = time.monotonic() + 20
    while True:
        try:
            c = Client(d.port)
            break
        except OSError:
            assert d.alive(), "portcullisd exited:\n" + d.log()
            assert time.monotonic() < deadline, "portcullisd never listened"
            time.sleep(0.05)
    with c:
        c.banner()
        c.ehlo()
        c.cmd("QUIT", 221)
    assert any(l.startswith("EHLO ") for l in sink.lines()), "the next hop saw no EHLO"
    d.stop()
    d.stopped_by_test = True
    assert d.rc == 0
    # Nothing but the sanitizer's own (empty) output may reach stderr.
    logged = [l for l in d.log().splitlines() if l.startswith("portcullisd:")]
    assert logged == [], "log lines on stderr with syslog = yes: %r" % logged[:5]


def test_sighup_reloads_signatures_sessions_survive(sink, proxy_factory, tmp_path):
    db = tmp_path / "db"
    shutil.copytree(REPO / "sigs", db)
    marker = b"PORTCULLIS-HUP-MARKER-" + secrets.token_hex(8).encode()
    payload = marker + b" and some more bytes\n" * 3
    msg = multipart([part("text/plain", b"hi\r\n"), b64_part(payload, "marker.bin")])
    d = proxy_factory(sink=sink, scan={"database_dir": db}, inbound={"infected": "reject"})

    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        check(c.mail("a@example.net", ["b@example.org"], msg), 250)   # not known yet
    old = Client(d.port)                                 # opened before the reload
    old.banner()
    old.ehlo("old.example")
    old.cmd("MAIL FROM:<old@example.net>", 250)

    (db / "hup-test.ndb").write_text("Portcullis.Test.HupMarker:0:*:%s\n" % marker.hex())
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload: configuration and signatures reloaded", after=mark)

    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        r = c.mail("a@example.net", ["b@example.org"], msg)
        assert r.first == "550 5.7.1 message rejected: virus found (Portcullis.Test.HupMarker)"
    # the old session is still usable, in the middle of its transaction
    with old:
        old.cmd("RCPT TO:<b@example.org>", 250)
        old.cmd("DATA", 354)
        check(old.data(SMALL), 250)
        old.cmd("NOOP", 250)
        old.quit()
    ms = sink.wait_messages(2)
    assert [m.mail_from for m in ms] == ["a@example.net", "old@example.net"]
    assert d.alive()


def test_sighup_bad_config_keeps_running(sink, proxy_factory):
    d = proxy_factory(sink=sink)
    d.conf_path.write_text(d.conf_path.read_text() + "\n[bogus]\nkey = 1\n")
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed, keeping the running configuration", after=mark)
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        check(c.mail("a@example.net", ["b@example.org"], SMALL), 250)
    d.write_config()


def test_sigterm_finishes_inflight_session(sink, proxy_factory):
    d = proxy_factory(sink=sink)
    msg = headers("in flight") + b"\r\n" + b"line of the message\r\n" * 2000
    c = Client(d.port)
    with c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<rcpt@example.org>", 250)
        c.cmd("DATA", 354)
        stuffed = dot_stuff(msg)
        c.send(stuffed[:len(stuffed) // 2])
        mark = d.mark()
        d.signal(signal.SIGTERM)
        d.wait_log(r"stopping: no new sessions", after=mark)
        # no new sessions
        def refused():
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
                return False
            except ConnectionRefusedError:
                return True
        wait_until(refused, 5, what="the listener to close")
        c.send(stuffed[len(stuffed) // 2:] + b".\r\n")
        check(c.reply(), "^250 2\\.0\\.0 Ok: queued as SINK1$")
        c.quit()
    d.stopped_by_test = True
    d.proc.wait(10)
    assert d.proc.returncode == 0
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, msg, "sender@example.net", ["rcpt@example.org"])
    d.wait_log(r"stopped")      # read by a thread: maybe not yet when the process is gone


def test_sigterm_drain_timeout_bounded(sink, proxy_factory):
    d = proxy_factory(sink=sink, daemon={"drain_timeout": "1s"})
    c = Client(d.port)
    with c:
        c.banner()
        c.ehlo()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        d.stopped_by_test = True
        d.proc.wait(10)
        assert time.monotonic() - t0 < 5
        assert d.proc.returncode == 0
        d.wait_log(r"drain timeout: closing 1 sessions")


# ------------------------------------------------------------------ load

N_SESSIONS = 50
PER_SESSION = 20


def _kind(i):
    """clean (delivered), infected to an internal domain (inbound:
    quarantine), infected to an external one (outbound: reject)."""
    if i % 3:
        return "clean"
    return "quarantine" if i % 2 == 0 else "reject"


def test_concurrent_sessions(sink, proxy_factory):
    d = proxy_factory(sink=sink, verbose=False,
                      policy={"direction_by": "recipient", "internal_domains": "example.org"},
                      inbound={"infected": "quarantine", "notify_recipient": "no"},
                      outbound={"infected": "reject", "notify_recipient": "no"},
                      log={"verdicts": "no"})
    total = N_SESSIONS * PER_SESSION
    replies = {}
    errors = []
    lock = threading.Lock()
    deadline = time.monotonic() + 120

    def worker(w):
        try:
            with Client(d.port, timeout=60) as c:
                c.banner()
                c.ehlo("load%d.example" % w)
                for k in range(PER_SESSION):
                    if time.monotonic() > deadline:
                        raise TimeoutError("load test over 120s")
                    i = w * PER_SESSION + k
                    kind = _kind(i)
                    rcpt = "r%d@%s" % (i, "example.com" if kind == "reject" else "example.org")
                    body = SMALL if kind == "clean" else INFECTED
                    body = body.replace(b"Subject: ", b"X-Seq: %d\r\nSubject: " % i, 1)
                    r = c.mail("s%d@example.net" % i, [rcpt], body)
                    with lock:
                        assert i not in replies
                        replies[i] = r
                c.quit()
        except Exception as e:  # reported below
            with lock:
                errors.append("session %d: %r" % (w, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(N_SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1, deadline - time.monotonic()))
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "sessions still running after 120s"
    assert not errors, errors[:5]
    assert len(replies) == total

    # what the clients were told
    told = {"clean": set(), "quarantine": set(), "reject": set()}
    for i, r in replies.items():
        if re.fullmatch(r"250 2\.0\.0 Ok: queued as SINK\d+", r.first):
            told["clean"].add(i)
        elif re.fullmatch(r"250 2\.0\.0 message quarantined as %s" % QID_RE, r.first):
            told["quarantine"].add(i)
        elif r.first.startswith("550 5.7.1 message rejected: virus found"):
            told["reject"].add(i)
        else:
            pytest.fail("message %d: unexpected reply %s" % (i, r))
    expect = {k: {i for i in range(total) if _kind(i) == k} for k in told}
    assert told == expect

    # what arrived at the sink, and in the quarantine: each exactly once
    def seq(addr):
        return int(re.fullmatch(r"s(\d+)@example\.net", addr).group(1))

    wait_until(lambda: len(sink.messages) >= len(expect["clean"]), 30, what="deliveries")
    delivered = [seq(m.mail_from) for m in sink.messages]
    for m in sink.messages:
        assert b"X-Seq: %d\r\n" % seq(m.mail_from) in m.data
    rows = d.quarantine_rows()
    quarantined = [seq(r["mail_from"]) for r in rows]
    assert len(delivered) == len(set(delivered)), "a message was delivered twice"
    assert len(quarantined) == len(set(quarantined)), "a message was quarantined twice"
    assert set(delivered) == expect["clean"]
    assert set(quarantined) == expect["quarantine"]
    qids = {r["id"] for r in rows}
    assert {re.search(QID_RE + "$", replies[i].first).group(0)
            for i in expect["quarantine"]} == qids
    assert len(delivered) + len(quarantined) + len(told["reject"]) == total
    assert not sink.notices()

    d.wait_message_log(total, timeout=30)      # the log comes through a reader thread
    logs = d.message_logs()
    assert len(logs) == total
    acts = {}
    for rec in logs:
        acts[rec["action"]] = acts.get(rec["action"], 0) + 1
    assert acts == {"pass": len(expect["clean"]), "quarantine": len(expect["quarantine"]),
                    "reject": len(expect["reject"])}
    assert elapsed < 120
    print("1000 messages over %d sessions in %.1fs" % (N_SESSIONS, elapsed))


def _send_one(port, msg, rcpt="rcpt@example.org"):
    with Client(port) as c:
        c.banner()
        c.ehlo("multi.example")
        r = c.mail("sender@example.net", [rcpt], msg)
        c.quit()
    return r


def test_two_listeners_each_with_its_next_hop_and_direction(sink_factory, proxy_factory):
    """[smtp] relays inbound to one next hop, [smtp.out] outbound to another:
    each message reaches its own listener's next hop, and each direction's
    policy applies (inbound quarantines, outbound rejects)."""
    inside, outside = sink_factory(name="inside"), sink_factory(name="outside")
    out_port = free_port()
    d = proxy_factory(sink=inside,
                      smtp__out={"listen": "127.0.0.1:%d" % out_port,
                                 "next_hop": "smtp:127.0.0.1:%d" % outside.port,
                                 "hostname": "out.portcullis.test",
                                 "direction": "outbound"},
                      inbound={"infected": "quarantine", "notify_recipient": "no"},
                      outbound={"infected": "reject"})
    assert re.search(r"ready listeners=.*smtp@127\.0\.0\.1:%d" % d.port, d.log())
    assert re.search(r"ready listeners=.*out@127\.0\.0\.1:%d" % out_port, d.log())

    check(_send_one(d.port, SMALL), 250)
    check(_send_one(out_port, SMALL), 250)
    (a,) = inside.wait_messages(1)
    (b,) = outside.wait_messages(1)
    assert a.data.endswith(b"small body\r\n") and b.data.endswith(b"small body\r\n")

    r_in = _send_one(d.port, INFECTED)
    r_out = _send_one(out_port, INFECTED)
    check(r_in, r"^250 2\.0\.0 message quarantined as [0-9a-f]{16}")
    check(r_out, "550 5.7.1")
    d.wait_log(r"message .*direction=inbound .*action=quarantine")
    d.wait_log(r"message .*direction=outbound .*action=reject")
    time.sleep(0.2)
    assert len(inside.messages) == 1 and len(outside.messages) == 1
