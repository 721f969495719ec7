"""Outbreak sealing end to end (docs/outbreak.md): signed alerts, updates
and all-clears pushed over HTTPS, pulled from a feed, or submitted with
portcullis-ctl; what the SMTP proxy does with mail in a sealed scope (hold,
hold_attachments, hash), what the FTP proxy does with uploads; releases
(byte-identical at the next hop, infected ones quarantined), crashes, the
transparency log, the admin commands, and 1,000 held messages.

Every test checks effects where they show: at the next hop (a recording
SMTP sink), in the hold store (`portcullis-ctl hold list --json`), in the
quarantine, at the FTP server, and in `portcullis-ctl outbreak status`. So
each fails against a proxy that ignores alerts.

A "future virus" is random bytes: no shipped signature matches it, only the
signature an update brings.
"""

import collections
import copy
import email
import email.policy
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import render_config  # noqa: E402
from ftp_util import FtpClient  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

HELD_WAIT = 15.0       # a held message shows in the hold list
RELEASE_WAIT = 30.0    # an update's release reaches the next hop
QUIET = 1.0            # how long "nothing arrives" is watched


# ------------------------------------------------------------------ helpers

def text_part(tag):
    return part("text/plain; charset=us-ascii",
                ("Hello,\r\nthis is message %s.\r\nRegards\r\n" % tag).encode(), "7bit")


def mail(tag, rcpt, attach=None, filename="data.bin", frm="sender@example.net"):
    """A multipart message (text part, optional base64 attachment) with a
    unique Message-ID; ends in CRLF, as the sink records it."""
    parts = [text_part(tag)]
    if attach is not None:
        parts.append(b64_part(attach, filename))
    return multipart(parts, subject="outbreak test %s" % tag, frm=frm, to=rcpt)


def message_id(data):
    m = re.search(rb"(?im)^Message-ID:\s*(<[^>\r\n]*>)", data)
    return m.group(1).decode() if m else None


def to(sink, rcpt):
    """Messages (not notices) the sink accepted for rcpt."""
    return [m for m in sink.messages if rcpt in m.rcpts]


def wait_to(sink, rcpt, n=1, timeout=RELEASE_WAIT):
    wait_until(lambda: len(to(sink, rcpt)) >= n, timeout,
               what="%d message(s) to %s at the sink" % (n, rcpt))
    return to(sink, rcpt)


def quiet(sink, seconds=QUIET):
    """Lets whatever is on its way arrive (bounded)."""
    time.sleep(seconds)
    sink.wait_idle(10)


def assert_scanned_clean(m, sent):
    """Delivered through normal scanning: trace headers on top, then the
    message as sent."""
    trace, rest = strip_trace(m.data)
    assert "X-Virus-Scanned" in trace, "no trace header on a normally scanned message: %r" % (
        m.data[:300],)
    assert rest == sent, "message changed on the way (%d bytes sent, %d after the trace " \
        "headers)" % (len(sent), len(rest))


def assert_identical(m, sent, what="released message"):
    """A released message reaches the next hop byte-identical (no header added)."""
    if m.data != sent:
        trace, rest = strip_trace(m.data)
        extra = " (identical after removing trace headers %r)" % trace if rest == sent else ""
        raise AssertionError("%s is not byte-identical: %d bytes sent, %d delivered%s; "
                             "first bytes delivered: %r" % (what, len(sent), len(m.data), extra,
                                                            m.data[:200]))


def pushed_ok(gw, env, what="document"):
    """Pushes env and requires acceptance; returns the answer (dict)."""
    st, body, raw = gw.push(env)
    assert st == 200, "%s: push answered %d: %r" % (what, st, raw[:500])
    assert body is not None and body.get("accepted") is True, "%s: %r" % (what, raw[:500])
    return body


def alerts(gw):
    """portcullis-ctl outbreak list --json: every alert, by ID."""
    v = gw.ctl_json("outbreak", "list", "--json")
    if isinstance(v, dict) and "alerts" in v:
        v = v["alerts"]
    return {a["id"]: a for a in v}


def alert_state(gw, aid):
    a = alerts(gw).get(aid)
    return a and a.get("state")


def wait_sealed(gw, sealed, timeout=HELD_WAIT):
    wait_until(lambda: gw.status().get("sealed") is sealed, timeout,
               what="outbreak status sealed=%s" % sealed)


def wait_held(gw, n, alert=None, timeout=HELD_WAIT):
    wait_until(lambda: len(gw.held(alert)) >= n, timeout,
               what="%d held item(s)%s" % (n, " of " + alert if alert else ""))
    return gw.held(alert)


def qrows_to(gw, rcpt):
    return [q for q in gw.quarantine_json() if rcpt in (q.get("rcpts") or [])]


def decoded_texts(data):
    """Every leaf part of a message, decoded (bytes), with its file name."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    out = []
    for p in msg.walk():
        if p.is_multipart():
            continue
        out.append((p.get_filename(), p.get_payload(decode=True) or b""))
    return out


def virus_update(prov, virus, data, kind="ndb"):
    """An update document bringing virus (a signature matching data)."""
    mk = {"ndb": ndb_file, "hdb": hdb_file, "hsb": hsb_file}[kind]
    return prov.update(viruses=[virus], files=[mk("outbreak-%d.%s" % (prov.seq + 1, kind),
                                                   data, virus)])


QUARANTINED = r"^250 2\.0\.0 message quarantined as [0-9a-f]{16}"


# ------------------------------------------------------- 1. rejections

def test_rejected_documents_change_nothing(sink, gateway_factory):
    prov = Provider(seq=100)
    intruder = Provider(name="test", key=gen_key())
    gw = gateway_factory(sink, prov)

    # An accepted alert to replay; its scope (outbound) is not this listener's.
    base = prov.alert(direction="outbound", name="outbound only")
    env_base = prov.seal(base)
    pushed_ok(gw, env_base, "the first alert")

    def hold_alert(**kw):
        kw.setdefault("mode", "hold")
        return prov.alert(direction="inbound", protocols=["smtp"], **kw)

    now = int(time.time())
    forged = hold_alert()
    tampered = prov.seal(hold_alert(name="tamper me"))
    no_field = hold_alert()
    del no_field["viruses"]
    bad_mode = hold_alert(mode="freeze")
    cases = [
        ("forged signature", sign_payload(prov.key, json.dumps(forged).encode(),
                                          signature=os.urandom(64)), 403),
        ("signature of another document",
         sign_payload(prov.key, json.dumps(hold_alert()).encode(),
                      signature=prov.key.sign(json.dumps(hold_alert()).encode())), 403),
        ("tampered payload", tamper_payload(tampered), 403),
        ("wrong key", intruder.seal(hold_alert(seq=prov.next_seq())), 403),
        ("expired", prov.seal(hold_alert(issued=now - 7200, expires=now - 3600)), 403),
        ("replay (same envelope)", env_base, 403),
        ("replay (same seq)", prov.seal(hold_alert(seq=base["seq"])), 403),
        ("replay (lower seq)", prov.seal(hold_alert(seq=base["seq"] - 50)), 403),
        ("malformed JSON", b'{"payload": "eyJ0eXBlIjoi", "signature": ', 400),
        ("not an envelope", b'[1, 2, 3]', 400),
        ("signed non-JSON payload", sign_payload(prov.key, b"this is not JSON {"), 400),
        ("signed document without viruses", prov.seal(no_field), 400),
        ("signed document with an unknown mode", prov.seal(bad_mode), 400),
        ("an alert ID known already (new seq)", prov.seal(hold_alert(id=base["id"])), 409),
    ]
    refused = []
    for what, env, code in cases:
        st, body, raw = gw.push(env)
        if st != code or not (body and body.get("accepted") is False and
                              not body.get("receipt")):
            refused.append("%s: expected %d accepted=false, got %d %r" % (
                what, code, st, raw[:300]))
    assert not refused, "\n".join(refused)

    known = alerts(gw)
    assert list(known) == [base["id"]], "only the first alert is known: %r" % list(known)
    assert gw.holds() == []

    msg = mail("after-rejections", "r1@example.org")
    check(send_mail(gw.port, "s1@example.net", ["r1@example.org"], msg), "^250 2\\.0\\.0 Ok")
    (m,) = wait_to(sink, "r1@example.org", timeout=10)
    assert_scanned_clean(m, msg)
    assert gw.holds() == [], "a clean mail was held after rejected alerts"

    # After a restart the replay is still refused (seq kept in seal.sqlite).
    assert gw.stop() == 0
    gw2 = gateway_factory.restart(gw)
    st, body, raw = gw2.push(env_base)
    assert st == 403 and body and body.get("accepted") is False, \
        "replay after a restart: %d %r" % (st, raw[:300])
    st, body, raw = gw2.push(prov.seal(hold_alert(seq=base["seq"] - 1)))
    assert st == 403, "a lower seq after a restart: %d %r" % (st, raw[:300])
    # ... while a new seq is taken
    pushed_ok(gw2, prov.seal(prov.alert(direction="outbound", name="second")), "a new seq")
    msg = mail("after-restart", "r2@example.org")
    check(send_mail(gw2.port, "s1@example.net", ["r2@example.org"], msg), 250)
    (m,) = wait_to(sink, "r2@example.org", timeout=10)
    assert_scanned_clean(m, msg)
    assert gw2.holds() == []


def test_push_endpoint_limits(sink, gateway_factory):
    """push_clients: others get 403 (nothing changes); a body above
    max_document gets 413."""
    prov = Provider()
    gw = gateway_factory(sink, prov, outbreak={"push_clients": "10.0.0.0/8",
                                               "max_document": "2K"})
    st, body, raw = gw.push(prov.seal(prov.alert()))
    assert st == 403, "a client outside push_clients: %d %r" % (st, raw[:300])
    big = prov.seal(prov.alert(name="x" * 150,
                               viruses=["Test.Big.%s-%d" % ("V" * 90, i) for i in range(60)]))
    assert len(big) > 4096
    gw2 = gateway_factory(sink, prov, outbreak={"max_document": "2K"})
    st, body, raw = gw2.push(big)
    assert st == 413, "a %d-byte document with max_document 2K: %d %r" % (len(big), st,
                                                                         raw[:300])
    for g in (gw, gw2):
        assert alerts(g) == {}, "nothing was accepted"
        msg = mail("limits-%s" % g.name, "r-%s@example.org" % g.name)
        check(send_mail(g.port, "s@example.net", ["r-%s@example.org" % g.name], msg), 250)
        (m,) = wait_to(sink, "r-%s@example.org" % g.name, timeout=10)
        assert_scanned_clean(m, msg)


def test_key_rotation_hex_and_pem(sink, gateway_factory, tmp_path):
    """provider_keys: a hex key and a PEM file; either may sign, a third not."""
    old = Provider(name="test")
    new = Provider(name="test", key=gen_key())
    pem = tmp_path / "provider-new.pub"
    pem.write_bytes(pub_pem(new.key))
    stranger = Provider(name="test", key=gen_key())
    gw = gateway_factory(sink, old, outbreak={"provider_keys": "%s %s" % (old.pub_hex, pem)})

    a = new.alert(seq=5)
    body = pushed_ok(gw, new.seal(a), "an alert signed with the PEM key")
    verify_receipt(receipt_of(body), gw.gw_pub(), message=a["id"], message_seq=5,
                   state="sealed")
    st, _, raw = gw.push(stranger.seal(stranger.alert(seq=6)))
    assert st == 403, "a key not in provider_keys: %d %r" % (st, raw[:300])
    c = old.allclear(a["id"], seq=7)
    body = pushed_ok(gw, old.seal(c), "an all-clear signed with the hex key")
    verify_receipt(receipt_of(body), gw.gw_pub(), message=c["id"], message_seq=7, state="open")
    assert list(alerts(gw)) == [a["id"]]


# ------------------------------------------------ 2. hold mode, end to end

def test_hold_then_update_releases(sink, gateway_factory):
    prov = Provider()
    gw = gateway_factory(sink, prov)
    virus = "Test.Future.Hold-1"
    fv = future_virus("hold")
    a = prov.alert(viruses=[virus], mode="hold", direction="inbound", protocols=["smtp"])
    body = pushed_ok(gw, prov.seal(a), "the alert")
    verify_receipt(receipt_of(body), gw.gw_pub(), message=a["id"], message_seq=a["seq"],
                   state="sealed")
    st = gw.status()
    assert st.get("sealed") is True and st.get("gateway") == "gw-test", st

    clean = mail("hold-clean", "clean@example.org")
    bad = mail("hold-bad", "bad@example.org", attach=fv, filename="invoice.exe")
    check(send_mail(gw.port, "s@example.net", ["clean@example.org"], clean), 250)
    check(send_mail(gw.port, "s@example.net", ["bad@example.org"], bad), 250)
    held = wait_held(gw, 2, a["id"])
    assert len(held) == 2, held
    assert sorted(tuple(h["rcpts"]) for h in held) == [("bad@example.org",),
                                                       ("clean@example.org",)], held
    assert all(h.get("alert") == a["id"] for h in held), held
    quiet(sink)
    assert not to(sink, "clean@example.org") and not to(sink, "bad@example.org"), \
        "a held message reached the next hop"
    # The recipients may be told (notify_recipient = yes): notices are not deliveries.
    for n in sink.notices():
        assert set(n.rcpts) <= {"clean@example.org", "bad@example.org"}, n.rcpts
    assert gw.status().get("held") == 2

    u = virus_update(prov, virus, fv, "ndb")
    body = pushed_ok(gw, prov.seal(u), "the update")
    verify_receipt(receipt_of(body), gw.gw_pub(), message=u["id"], message_seq=u["seq"],
                   state="open")

    (m,) = wait_to(sink, "clean@example.org")
    assert m.mail_from == "s@example.net" and m.rcpts == ["clean@example.org"]
    assert_identical(m, clean)
    wait_until(lambda: qrows_to(gw, "bad@example.org"), RELEASE_WAIT,
               what="the infected held message in the quarantine")
    (q,) = qrows_to(gw, "bad@example.org")
    assert virus in (q.get("virus_names") or ""), q
    wait_until(lambda: gw.status().get("held") == 0, RELEASE_WAIT, what="held = 0")
    st = gw.status()
    assert st.get("sealed") is False, st
    quiet(sink)
    assert not to(sink, "bad@example.org"), "the infected held message was delivered"
    assert len(to(sink, "clean@example.org")) == 1

    # The update's signature is live for new traffic; clean mail flows at once.
    r = send_mail(gw.port, "s@example.net", ["bad2@example.org"],
                  mail("hold-bad2", "bad2@example.org", attach=fv, filename="again.exe"))
    check(r, QUARANTINED)
    (q,) = qrows_to(gw, "bad2@example.org")
    assert virus in (q.get("virus_names") or ""), q
    clean2 = mail("hold-clean2", "clean2@example.org")
    t0 = time.monotonic()
    check(send_mail(gw.port, "s@example.net", ["clean2@example.org"], clean2), 250)
    (m,) = wait_to(sink, "clean2@example.org", timeout=10)
    assert time.monotonic() - t0 < 10
    assert_scanned_clean(m, clean2)
    assert len(gw.held()) == 0


# --------------------------------------------------- 3. hold_attachments

def test_hold_attachments(sink, gateway_factory):
    prov = Provider()
    gw = gateway_factory(sink, prov)
    a = prov.alert(viruses=["Test.Future.Att-1"], mode="hold_attachments")
    pushed_ok(gw, prov.seal(a), "the alert")
    att = future_virus("attachment", 3000)
    msg = mail("att", "att@example.org", attach=att, filename="report.doc")
    check(send_mail(gw.port, "s@example.net", ["att@example.org"], msg), 250)

    (m,) = wait_to(sink, "att@example.org", timeout=15)
    (h,) = wait_held(gw, 1, a["id"])
    assert h["rcpts"] == ["att@example.org"], h
    trace, rest = strip_trace(m.data)
    assert rest != msg, "delivered with its attachment"
    leaves = decoded_texts(rest)
    assert all(att not in body and att[:200] not in body for _, body in leaves), \
        "the attachment's bytes were delivered"
    assert text_part("att") in rest, "the text part is delivered unchanged"
    alltext = b"\n".join(body for _, body in leaves) + rest
    assert a["id"].encode() in alltext, "the note names the alert: %r" % rest[-1500:]
    assert h["id"].encode() in alltext, "the note names the hold ID %s: %r" % (h["id"],
                                                                              rest[-1500:])

    pushed_ok(gw, prov.seal(prov.update(viruses=["Test.Future.Att-1"])), "the update")
    wait_to(sink, "att@example.org", n=2)
    m2 = to(sink, "att@example.org")[1]
    assert_identical(m2, msg, "the released original")
    wait_until(lambda: not gw.held(a["id"]), RELEASE_WAIT, what="the hold released")
    quiet(sink)
    assert len(to(sink, "att@example.org")) == 2


# --------------------------------------------------------------- 4. hash

def test_hash_mode_smtp_zip_and_ftp(sink, gateway_factory, ftp_server):
    prov = Provider()
    gw = gateway_factory(sink, prov, ftp_server=ftp_server)
    x = future_virus("hash-x", 5000)
    y = future_virus("hash-y", 5000)
    a = prov.alert(viruses=["Test.Future.Hash-1"], mode="hash", direction="both",
                   protocols=["smtp", "ftp"], sha256=[sha256_hex(x)])
    pushed_ok(gw, prov.seal(a), "the hash alert")
    name = "Portcullis.Outbreak." + a["id"]

    check(send_mail(gw.port, "s@example.net", ["hx@example.org"],
                    mail("hash-x", "hx@example.org", attach=x, filename="x.bin")), QUARANTINED)
    (q,) = qrows_to(gw, "hx@example.org")
    assert name in (q.get("virus_names") or ""), q

    zipped = mail("hash-zip", "hz@example.org",
                  attach=zip_bytes([("readme.txt", b"hello\n"), ("dir/x.bin", x)]),
                  filename="files.zip")
    check(send_mail(gw.port, "s@example.net", ["hz@example.org"], zipped), QUARANTINED)
    (q,) = qrows_to(gw, "hz@example.org")
    assert name in (q.get("virus_names") or ""), q

    other = mail("hash-y", "hy@example.org", attach=y, filename="y.bin")
    check(send_mail(gw.port, "s@example.net", ["hy@example.org"], other), "^250 2\\.0\\.0 Ok")
    (m,) = wait_to(sink, "hy@example.org", timeout=10)
    assert_scanned_clean(m, other)
    assert not to(sink, "hx@example.org") and not to(sink, "hz@example.org")
    assert gw.holds() == [], "hash mode holds nothing"

    c = FtpClient("127.0.0.1", gw.ftp_port, "pasv")
    try:
        bad = c.stor("match.bin", x)
        good = c.stor("other.bin", y)
    finally:
        c.close_quietly()
    assert 400 <= bad.code < 500, "an upload matching the alert: %s" % bad
    assert bad.code == 451, "docs/outbreak.md: 451 naming the alert: %s" % bad
    assert a["id"] in bad.final, "the reply names the alert: %s" % bad
    assert not ftp_server.has("match.bin"), "the server received the matching file"
    assert good.code == 226, good
    assert ftp_server.get("other.bin") == y

    # The all-clear ends it: the checksum blocks no more.
    pushed_ok(gw, prov.seal(prov.allclear(a["id"])), "the all-clear")
    again = mail("hash-x-after", "hx2@example.org", attach=x, filename="x.bin")

    def flows():
        r = send_mail(gw.port, "s@example.net", ["hx2@example.org"], again)
        return r.first.startswith("250 2.0.0 Ok")
    wait_until(flows, 15, 0.5, what="x to flow after the all-clear")
    (m,) = wait_to(sink, "hx2@example.org", timeout=10)
    assert_scanned_clean(m, again)


# ------------------------------------------------------------ 5. FTP hold

def test_ftp_hold_scope_refuses_uploads(sink, gateway_factory, ftp_server):
    prov = Provider()
    gw = gateway_factory(sink, prov, ftp_server=ftp_server)
    a = prov.alert(viruses=["Test.Future.Ftp-1"], mode="hold", direction="inbound",
                   protocols=["ftp"])
    pushed_ok(gw, prov.seal(a), "the FTP alert")
    data = future_virus("ftp-clean", 2000)
    c = FtpClient("127.0.0.1", gw.ftp_port, "pasv")
    try:
        x = c.stor("upload.bin", data)
        assert c.sendcmd("NOOP").startswith("200"), "the session goes on"
    finally:
        c.close_quietly()
    assert x.code == 451, "an upload in a sealed FTP scope: %s" % x
    assert a["id"] in x.final, "the reply names the alert: %s" % x
    time.sleep(0.5)
    assert not ftp_server.has("upload.bin"), "the server received the upload"
    assert not [l for l in ftp_server.commands({"STOR"}) if "upload.bin" in l], \
        "the STOR reached the server"

    # SMTP is not in the alert's scope.
    msg = mail("ftp-scope-smtp", "f@example.org")
    check(send_mail(gw.port, "s@example.net", ["f@example.org"], msg), "^250 2\\.0\\.0 Ok")
    (m,) = wait_to(sink, "f@example.org", timeout=10)
    assert_scanned_clean(m, msg)
    assert gw.holds() == []


# ------------------------------------------------------------ 6. all-clear

def test_allclear_releases_without_signature(sink, gateway_factory):
    prov = Provider()
    gw = gateway_factory(sink, prov)
    a = prov.alert(viruses=["Test.Future.Clear-1"])
    pushed_ok(gw, prov.seal(a), "the alert")
    m1 = mail("clear-1", "c1@example.org")
    m2 = mail("clear-2", "c2@example.org", attach=future_virus("clear"), filename="f.exe")
    check(send_mail(gw.port, "s@example.net", ["c1@example.org"], m1), 250)
    check(send_mail(gw.port, "s@example.net", ["c2@example.org"], m2), 250)
    wait_held(gw, 2, a["id"])
    quiet(sink, 0.5)
    assert not to(sink, "c1@example.org") and not to(sink, "c2@example.org")

    c = prov.allclear(a["id"])
    body = pushed_ok(gw, prov.seal(c), "the all-clear")
    verify_receipt(receipt_of(body), gw.gw_pub(), message=c["id"], message_seq=c["seq"],
                   state="open")
    (d1,) = wait_to(sink, "c1@example.org")
    (d2,) = wait_to(sink, "c2@example.org")
    assert_identical(d1, m1)
    assert_identical(d2, m2, "the released message with the unknown attachment")
    wait_until(lambda: alert_state(gw, a["id"]) == "released", RELEASE_WAIT,
               what="alert state released")
    assert gw.status().get("sealed") is False
    assert not gw.held()


# ---------------------------------------------------------- 7. kill -9

def test_kill9_between_alert_and_update(sink, gateway_factory):
    prov = Provider()
    virus = "Test.Future.Crash-1"
    gw = gateway_factory(sink, prov)
    a = prov.alert(viruses=[virus])
    pushed_ok(gw, prov.seal(a), "the alert")
    sent = {}
    for i in range(3):
        rcpt = "k%d@example.org" % i
        sent[rcpt] = mail("kill-%d" % i, rcpt)
        check(send_mail(gw.port, "s@example.net", [rcpt], sent[rcpt]), 250)
    wait_held(gw, 3, a["id"])

    gw.kill9()
    gw2 = gateway_factory.restart(gw)
    assert gw2.status().get("sealed") is True, "the seal survives kill -9"
    rcpt = "k3@example.org"
    sent[rcpt] = mail("kill-3", rcpt)
    check(send_mail(gw2.port, "s@example.net", [rcpt], sent[rcpt]), 250)
    wait_held(gw2, 4, a["id"])
    quiet(sink, 0.5)
    assert not any(to(sink, r) for r in sent), "a held message reached the next hop"

    pushed_ok(gw2, prov.seal(virus_update(prov, virus, future_virus("crash-unrelated"))),
              "the update")
    for r in sent:
        wait_to(sink, r)
    quiet(sink, 2.0)
    for r, msg in sent.items():
        got = to(sink, r)
        assert len(got) == 1, "%s: delivered %d times" % (r, len(got))
        assert_identical(got[0], msg)
    wait_until(lambda: not gw2.held(), RELEASE_WAIT, what="nothing held")


def test_kill9_hash_and_hold_attachments(sink, gateway_factory):
    """The other two modes survive kill -9 too: a hash alert's checksums are
    back in the engine after the restart, and a hold_attachments original is
    released once, whole, by the update that comes after the restart."""
    prov = Provider()
    gw = gateway_factory(sink, prov)
    x = future_virus("crash-hash", 4000)
    h = prov.alert(viruses=["Test.Future.CrashHash-1"], mode="hash", sha256=[sha256_hex(x)])
    pushed_ok(gw, prov.seal(h), "the hash alert")
    att = future_virus("crash-att", 3000)
    a = prov.alert(viruses=["Test.Future.CrashAtt-1"], mode="hold_attachments")
    pushed_ok(gw, prov.seal(a), "the hold_attachments alert")
    msg = mail("crash-att", "ca@example.org", attach=att, filename="a.doc")
    check(send_mail(gw.port, "s@example.net", ["ca@example.org"], msg), 250)
    wait_to(sink, "ca@example.org", timeout=15)  # the stripped copy
    wait_held(gw, 1, a["id"])

    gw.kill9()
    gw2 = gateway_factory.restart(gw)
    check(send_mail(gw2.port, "s@example.net", ["cx@example.org"],
                    mail("crash-x", "cx@example.org", attach=x, filename="x.bin")), QUARANTINED)
    (q,) = qrows_to(gw2, "cx@example.org")
    assert "Portcullis.Outbreak." + h["id"] in (q.get("virus_names") or ""), q
    assert len(to(sink, "ca@example.org")) == 1, "released before its signature arrived"

    pushed_ok(gw2, prov.seal(prov.update(viruses=["Test.Future.CrashAtt-1"])), "the update")
    wait_to(sink, "ca@example.org", n=2)
    quiet(sink, 1.0)
    got = to(sink, "ca@example.org")
    assert len(got) == 2, "the original delivered %d times" % (len(got) - 1)
    assert_identical(got[1], msg, "the released original")
    wait_until(lambda: not gw2.held(a["id"]), RELEASE_WAIT, what="the hold released")


# --------------------------------------------------------------- 8. pull

def test_pull_feed(sink, gateway_factory, feed_server):
    prov = Provider()
    virus = "Test.Future.Pull-1"
    fv = future_virus("pull")
    a = prov.alert(viruses=[virus])
    feed_server.add(a["seq"], prov.seal(a))
    gw = gateway_factory(sink, prov, push=False,
                         outbreak={"feed_url": feed_server.feed_url,
                                   "receipt_url": feed_server.receipt_url,
                                   "poll_interval": "1s", "fetch_timeout": "5s"})
    wait_sealed(gw, True, 15)
    wait_until(lambda: feed_server.receipts_copy(), 15, what="the alert's receipt POSTed")
    rcpt_doc = verify_receipt(feed_server.receipts_copy()[0], gw.gw_pub(), message=a["id"],
                              message_seq=a["seq"], state="sealed")
    assert rcpt_doc["message"] == a["id"]

    # Later polls are conditional and answered 304.
    wait_until(lambda: feed_server.not_modified >= 1, 15,
               what="a conditional GET answered 304")
    inm = [r for r in feed_server.index_gets() if r[2].get("if-none-match")]
    assert inm, "no If-None-Match sent"

    clean = mail("pull-clean", "p1@example.org")
    bad = mail("pull-bad", "p2@example.org", attach=fv, filename="p.exe")
    check(send_mail(gw.port, "s@example.net", ["p1@example.org"], clean), 250)
    check(send_mail(gw.port, "s@example.net", ["p2@example.org"], bad), 250)
    wait_held(gw, 2, a["id"])

    u = virus_update(prov, virus, fv, "hdb")
    feed_server.add(u["seq"], prov.seal(u))
    (m,) = wait_to(sink, "p1@example.org")
    assert_identical(m, clean)
    wait_until(lambda: qrows_to(gw, "p2@example.org"), RELEASE_WAIT,
               what="the infected held message quarantined")
    wait_until(lambda: len(feed_server.receipts_copy()) >= 2, 15,
               what="the update's receipt POSTed")
    verify_receipt(feed_server.receipts_copy()[1], gw.gw_pub(), message=u["id"],
                   message_seq=u["seq"], state="open")
    wait_sealed(gw, False)
    quiet(sink)
    assert not to(sink, "p2@example.org")
    assert len(feed_server.gets_of("/feed/doc-%d.json" % a["seq"])) == 1, \
        "the alert (seq already accepted) was fetched again"
    assert len(feed_server.gets_of("/feed/doc-%d.json" % u["seq"])) == 1


# ------------------------------------------------------- 9. local submit

def _envelope_in(text):
    """A JSON envelope (or {"receipt": envelope}) printed in text, or None."""
    cands = [text.strip()]
    i, j = text.find("{"), text.rfind("}")
    if 0 <= i < j:
        cands.append(text[i:j + 1])
    for c in cands:
        try:
            v = json.loads(c)
        except ValueError:
            continue
        if isinstance(v, dict) and "receipt" in v:
            return receipt_of(v)
        if isinstance(v, dict) and "payload" in v:
            return v
    return None


def test_local_submit(sink, gateway_factory, tmp_path):
    prov = Provider()
    gw = gateway_factory(sink, prov, push=False)
    a = prov.alert(viruses=["Test.Future.Local-1"], direction="outbound", name="local")
    f = tmp_path / "alert.json"
    f.write_bytes(prov.seal(a))
    rc, out, err = gw.ctl("outbreak", "submit", f)
    assert rc == 0, "submit: rc=%d\n%s\n%s" % (rc, out, err)
    env = _envelope_in(out)
    assert env is not None, "submit printed no receipt: %r" % out[:1000]
    verify_receipt(env, gw.gw_pub(), message=a["id"], message_seq=a["seq"], state="sealed")
    assert a["id"] in alerts(gw)

    b = prov.alert(viruses=["Test.Future.Local-2"], name="tamper this")
    t = tmp_path / "tampered.json"
    t.write_bytes(tamper_payload(prov.seal(b)))
    rc, out, err = gw.ctl("outbreak", "submit", t)
    assert rc == 1, "a tampered document: rc=%d\n%s\n%s" % (rc, out, err)
    rc, out, err = gw.ctl("outbreak", "submit", f)
    assert rc == 1, "a replayed document: rc=%d\n%s\n%s" % (rc, out, err)
    assert list(alerts(gw)) == [a["id"]]

    c = prov.allclear(a["id"])
    rc, out, err = gw.ctl("outbreak", "submit", "-", stdin=prov.seal(c))
    assert rc == 0, "submit from stdin: rc=%d\n%s\n%s" % (rc, out, err)
    wait_sealed(gw, False)
    msg = mail("local", "l@example.org")
    check(send_mail(gw.port, "s@example.net", ["l@example.org"], msg), 250)
    (m,) = wait_to(sink, "l@example.org", timeout=10)
    assert_scanned_clean(m, msg)


# ------------------------------------------------- 10. transparency log

def _tlog_lines(path):
    raw = Path(path).read_bytes()
    assert raw.endswith(b"\n"), "the log ends in a newline"
    return raw[:-1].split(b"\n")


def _flip(line):
    """line with one alphanumeric byte near its middle changed."""
    b = bytearray(line)
    i = len(b) // 2
    while not chr(b[i]).isalnum():
        i += 1
    b[i] = ord("B") if b[i] != ord("B") else ord("C")
    return bytes(b)


def test_transparency_log(sink, gateway_factory, tmp_path):
    prov = Provider()
    gw = gateway_factory(sink, prov)
    now = int(time.time())
    a = prov.alert(direction="outbound")
    expired = prov.alert(issued=now - 7200, expires=now - 3600)
    u = prov.update(viruses=["Test.Future.Virus-1"])
    handed = [  # (envelope, accepted, type, id, seq)
        (prov.seal(a), True, "alert", a["id"], a["seq"]),
        (sign_payload(gen_key(), json.dumps(prov.alert()).encode()), False, None, None, None),
        (prov.seal(expired), False, None, None, None),
        (b'{"payload": ', False, None, None, None),
        (prov.seal(u), True, "update", u["id"], u["seq"]),
        (prov.seal(a), False, "alert", a["id"], a["seq"]),  # replay
    ]
    for env, ok, *_ in handed:
        st, body, raw = gw.push(env)
        assert (st == 200) == ok, "%d %r" % (st, raw[:300])

    rc, out, err = gw.ctl("outbreak", "log", "--verify")
    assert rc == 0, "log --verify on an intact log: rc=%d\n%s\n%s" % (rc, out, err)

    lines = _tlog_lines(gw.tlog_path)
    assert len(lines) == len(handed), "one line per document handed: %d lines" % len(lines)
    prev = "0" * 64
    for k, (l, (env, ok, typ, did, seq)) in enumerate(zip(lines, handed), 1):
        e = json.loads(l)
        assert e["n"] == k and e["prev"] == prev, e
        assert e["result"] == ("accepted" if ok else "rejected"), e
        assert e["source"] == "push", e
        if not ok:
            assert e.get("reason"), "a rejection has its reason: %r" % e
        if typ:
            assert e["type"] == typ and e["id"] == did and e["seq"] == seq, e
        if ok:
            payload = unb64(json.loads(env)["payload"])
            assert e["digest"] == hashlib.sha256(payload).hexdigest(), e
        assert unb64(e["envelope"]) == env, "the envelope as received"
        prev = hashlib.sha256(l).hexdigest()
    head = (gw.tlog_path.parent / (gw.tlog_path.name + ".head")).read_text()
    assert head.split() == [str(len(lines)), prev], head

    gw.stopped_by_test = True
    assert gw.stop() == 0
    rc, out, err = gw.ctl("outbreak", "log", "--verify")
    assert rc == 0, "log --verify with the daemon stopped: rc=%d\n%s\n%s" % (rc, out, err)

    def tampered(tag, change):
        d = tmp_path / ("tl-" + tag)
        d.mkdir()
        ls = list(lines)
        change(ls)
        (d / "transparency.log").write_bytes(b"\n".join(ls) + b"\n")
        (d / "transparency.log.head").write_bytes(
            (gw.tlog_path.parent / "transparency.log.head").read_bytes())
        conf = copy.deepcopy(gw.conf)
        conf["outbreak"]["state_dir"] = str(d)
        conf["outbreak"].pop("push_listen", None)
        cp = tmp_path / ("tl-%s.conf" % tag)
        cp.write_text(render_config(conf))
        return ctl(cp, "outbreak", "log", "--verify")

    def middle(ls):
        ls[1] = _flip(ls[1])

    def last(ls):
        ls[-1] = _flip(ls[-1])

    def dropped(ls):
        del ls[-1]

    for tag, change in (("middle", middle), ("last", last), ("truncated", dropped)):
        rc, out, err = tampered(tag, change)
        assert rc != 0, "log --verify after changing the %s line: rc=0\n%s\n%s" % (tag, out,
                                                                                   err)
    rc, out, err = gw.ctl("outbreak", "log", "--verify")
    assert rc == 0, "the original still verifies"


# ----------------------------------------------------------- 11. admin

def test_admin_lift_release_delete(sink, gateway_factory):
    prov = Provider()
    gw = gateway_factory(sink, prov)

    # lift: the seal ends, the held items stay held
    a = prov.alert(viruses=["Test.Future.Admin-A"])
    pushed_ok(gw, prov.seal(a), "alert A")
    ma1, ma2 = mail("adm-a1", "a1@example.org"), mail("adm-a2", "a2@example.org")
    check(send_mail(gw.port, "s@example.net", ["a1@example.org"], ma1), 250)
    check(send_mail(gw.port, "s@example.net", ["a2@example.org"], ma2), 250)
    held = wait_held(gw, 2, a["id"])
    ids = {h["rcpts"][0]: h["id"] for h in held}
    rc, out, err = gw.ctl("outbreak", "lift", a["id"])
    assert rc == 0, "lift: rc=%d %s %s" % (rc, out, err)
    wait_sealed(gw, False)
    assert alert_state(gw, a["id"]) == "lifted"
    quiet(sink)
    assert len(gw.held(a["id"])) == 2, "lift releases nothing"
    assert not to(sink, "a1@example.org") and not to(sink, "a2@example.org")
    m = mail("adm-free", "free@example.org")
    check(send_mail(gw.port, "s@example.net", ["free@example.org"], m), "^250 2\\.0\\.0 Ok")
    (d,) = wait_to(sink, "free@example.org", timeout=10)
    assert_scanned_clean(d, m)

    # hold release: one item
    rc, out, err = gw.ctl("hold", "release", ids["a1@example.org"])
    assert rc == 0, "hold release: rc=%d %s %s" % (rc, out, err)
    (d,) = wait_to(sink, "a1@example.org")
    assert_identical(d, ma1)
    assert [h["id"] for h in gw.held(a["id"])] == [ids["a2@example.org"]]

    # hold delete: gone, never delivered
    rc, out, err = gw.ctl("hold", "delete", ids["a2@example.org"])
    assert rc == 0, "hold delete: rc=%d %s %s" % (rc, out, err)
    assert ids["a2@example.org"] not in [h["id"] for h in gw.holds()]
    quiet(sink)
    assert not to(sink, "a2@example.org")

    # unknown IDs
    assert gw.ctl("outbreak", "release", "A-no-such-alert")[0] != 0
    assert gw.ctl("hold", "release", "0123456789abcdef")[0] != 0
    assert gw.ctl("hold", "delete", "0123456789abcdef")[0] != 0

    # release an active alert
    c = prov.alert(viruses=["Test.Future.Admin-C"])
    pushed_ok(gw, prov.seal(c), "alert C")
    mc = mail("adm-c", "c@example.org")
    check(send_mail(gw.port, "s@example.net", ["c@example.org"], mc), 250)
    wait_held(gw, 1, c["id"])
    rc, out, err = gw.ctl("outbreak", "release", c["id"])
    assert rc == 0, "release of an active alert: rc=%d %s %s" % (rc, out, err)
    (d,) = wait_to(sink, "c@example.org")
    assert_identical(d, mc)
    wait_sealed(gw, False)
    wait_until(lambda: alert_state(gw, c["id"]) == "released", RELEASE_WAIT,
               what="alert C released")

    # release an expired alert: it seals no more, its held item waits for the admin
    now = int(time.time())
    b = prov.alert(viruses=["Test.Future.Admin-B"], issued=now, expires=now + 4)
    pushed_ok(gw, prov.seal(b), "alert B")
    mb = mail("adm-b", "b@example.org")
    check(send_mail(gw.port, "s@example.net", ["b@example.org"], mb), 250)
    wait_held(gw, 1, b["id"])
    wait_until(lambda: alert_state(gw, b["id"]) == "expired", 20, 0.5,
               what="alert B expired")
    m = mail("adm-after-expiry", "free2@example.org")
    check(send_mail(gw.port, "s@example.net", ["free2@example.org"], m), "^250 2\\.0\\.0 Ok")
    (d,) = wait_to(sink, "free2@example.org", timeout=10)
    assert_scanned_clean(d, m)
    quiet(sink)
    assert not to(sink, "b@example.org"), "an expired alert releases nothing by itself"
    assert len(gw.held(b["id"])) == 1
    rc, out, err = gw.ctl("outbreak", "release", b["id"])
    assert rc == 0, "release of an expired alert: rc=%d %s %s" % (rc, out, err)
    (d,) = wait_to(sink, "b@example.org")
    assert_identical(d, mb)
    wait_until(lambda: not gw.held(b["id"]), RELEASE_WAIT, what="B's hold empty")


# ----------------------------------------------------- 12. 1,000 messages

def test_thousand_held_then_released(sink, gateway_factory):
    prov = Provider()
    virus = "Test.Future.Many-1"
    gw = gateway_factory(sink, prov, outbreak={"notify_recipient": "no"})
    a = prov.alert(viruses=[virus])
    pushed_ok(gw, prov.seal(a), "the alert")
    n = 1000
    items = []
    for i in range(n):
        rcpt = "m%d@example.org" % (i % 7)
        items.append(("s@example.net", [rcpt], mail("many-%d" % i, rcpt)))
    sent_ids = collections.Counter(message_id(msg) for _, _, msg in items)
    assert len(sent_ids) == n
    t0 = time.monotonic()
    replies = send_many(gw.port, items, conns=8, timeout=60)
    bad = [(i, str(r)) for i, r in enumerate(replies) if r is None or r.code != 250]
    assert not bad, "%d of %d not answered 250: %r" % (len(bad), n, bad[:5])
    wait_until(lambda: gw.status().get("held") == n, 60, 0.5, what="%d held" % n)
    quiet(sink, 0.5)
    assert not sink.messages, "%d held messages reached the next hop" % len(sink.messages)

    pushed_ok(gw, prov.seal(virus_update(prov, virus, future_virus("many-unrelated"))),
              "the update")
    wait_until(lambda: len(sink.messages) >= n, 120, 0.5,
               what="%d released messages at the sink" % n)
    quiet(sink, 2.0)
    got = collections.Counter(message_id(m.data) for m in sink.messages)
    dups = {k: v for k, v in got.items() if v > 1}
    assert not dups, "delivered more than once: %r" % list(dups.items())[:10]
    assert set(got) == set(sent_ids), "lost: %r" % list(set(sent_ids) - set(got))[:10]
    by_id = {message_id(msg): msg for _, _, msg in items}
    changed = [message_id(m.data) for m in sink.messages if m.data != by_id[message_id(m.data)]]
    assert not changed, "%d released messages not byte-identical" % len(changed)
    wait_until(lambda: gw.status().get("held") == 0, 30, 0.5, what="held = 0")
    print("1000 messages: %.1fs" % (time.monotonic() - t0))


# ------------------------------------------- update files fetched by URL

def test_update_file_by_url(sink, gateway_factory, feed_server):
    prov = Provider()
    virus = "Test.Future.Url-1"
    fv = future_virus("url")
    gw = gateway_factory(sink, prov)
    a = prov.alert(viruses=[virus])
    pushed_ok(gw, prov.seal(a), "the alert")
    bad = mail("url-bad", "u1@example.org", attach=fv, filename="u.exe")
    clean = mail("url-clean", "u2@example.org")
    check(send_mail(gw.port, "s@example.net", ["u1@example.org"], bad), 250)
    check(send_mail(gw.port, "s@example.net", ["u2@example.org"], clean), 250)
    wait_held(gw, 2, a["id"])
    text = ("%s:%d:%s\n" % (sha256_hex(fv), len(fv), virus)).encode()
    url = feed_server.put_file("/files/outbreak.hsb", text)
    u = prov.update(viruses=[virus], files=[sig_file("outbreak-url.hsb", text, url=url)])
    pushed_ok(gw, prov.seal(u), "the update")
    (m,) = wait_to(sink, "u2@example.org")
    assert_identical(m, clean)
    wait_until(lambda: qrows_to(gw, "u1@example.org"), RELEASE_WAIT,
               what="the infected held message quarantined")
    assert feed_server.gets_of("/files/outbreak.hsb"), "the file was not fetched"
    quiet(sink)
    assert not to(sink, "u1@example.org")


# ------------------------------------- release retried after a 4xx next hop

def test_release_retried_after_temporary_failure(sink, gateway_factory):
    """A held item whose release the next hop refuses temporarily stays held
    and is tried again after release_retry (1s here): delivered once."""
    prov = Provider()
    virus = "Test.Future.Retry-1"
    gw = gateway_factory(sink, prov)
    a = prov.alert(viruses=[virus])
    pushed_ok(gw, prov.seal(a), "the alert")
    msg = mail("retry", "retry@example.org")
    check(send_mail(gw.port, "s@example.net", ["retry@example.org"], msg), 250)
    wait_held(gw, 1, a["id"])
    sink.on("dot", "451 4.3.0 try again later", match=re.escape(message_id(msg)).encode(),
            times=2)
    pushed_ok(gw, prov.seal(virus_update(prov, virus, future_virus("retry-unrelated"))),
              "the update")
    wait_until(lambda: len([m for m in sink.all_messages if "retry@example.org" in m.rcpts
                            and not m.accepted]) >= 1, RELEASE_WAIT,
               what="the first (refused) release attempt")
    (m,) = wait_to(sink, "retry@example.org")
    assert_identical(m, msg)
    refused = [x for x in sink.all_messages if "retry@example.org" in x.rcpts and not x.accepted]
    assert len(refused) == 2, "two refused attempts before the delivery: %d" % len(refused)
    wait_until(lambda: not gw.held(a["id"]), RELEASE_WAIT, what="the item released")
    quiet(sink, 2.0)
    assert len(to(sink, "retry@example.org")) == 1


# ------------------------------------------------ keygen and gateway_key

def test_keygen_and_gateway_key(sink, gateway_factory, tmp_path):
    """outbreak keygen --out PREFIX makes PREFIX.key (0600) and PREFIX.pub,
    prints the public key's hex; a gateway with gateway_key = PREFIX.key
    signs its receipts with it."""
    prov = Provider()
    gw0 = gateway_factory(sink, prov, push=False, start=False)
    gw0.write_config()
    prefix = tmp_path / "gwkey"
    rc, out, err = gw0.ctl("outbreak", "keygen", "--out", prefix)
    assert rc == 0, "keygen: rc=%d %s %s" % (rc, out, err)
    key, pub = Path(str(prefix) + ".key"), Path(str(prefix) + ".pub")
    assert key.is_file() and pub.is_file()
    assert (key.stat().st_mode & 0o777) == 0o600, oct(key.stat().st_mode)
    from cryptography.hazmat.primitives import serialization
    pk = serialization.load_pem_public_key(pub.read_bytes())
    assert pub_hex(pk) in out, "keygen prints the public key in hex: %r" % out
    rc, out, err = gw0.ctl("outbreak", "keygen", "--out", prefix)
    assert rc != 0, "keygen never replaces a key"

    gw = gateway_factory(sink, prov, outbreak={"gateway_key": key})
    a = prov.alert(direction="outbound")
    body = pushed_ok(gw, prov.seal(a), "the alert")
    verify_receipt(receipt_of(body), pk, message=a["id"], state="sealed")
    rc, out, err = gw.ctl("outbreak", "show", a["id"])
    assert rc == 0 and a["id"] in out, "outbreak show: rc=%d %s %s" % (rc, out, err)
    assert gw.ctl("outbreak", "show", "A-unknown")[0] != 0
