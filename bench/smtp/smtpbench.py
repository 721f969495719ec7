#!/usr/bin/python3
"""
smtpbench.py: the measuring jobs of bench/smtp/run that bash does badly.

  gen WORK SRCDIR [--sigs bench|bundled] [--seed S]
                              write WORK/msgs/*.eml and WORK/sigs/
  freeports N                 print N free TCP ports on 127.0.0.1
  wait-smtp PORT TIMEOUT [PID]
                              wait until 127.0.0.1:PORT answers 220
  settle PID[,PID...]         wait (at most 10 s) until the processes are idle
  source PORT MSGFILE SESSIONS COUNT CAP ERRLOG [PID,...]
                              run smtp-source -d, at most CAP seconds;
                              print n= secs= rate= capped= rc= cpu_s=
                              src_cpu_s= (CPU time of PIDs, of smtp-source)
  latency PORT MSGFILE N      one session, N messages one after the other;
                              print n= errors= p50_ms= p99_ms= mean_ms=
  idle PORT N PID[,PID...]    open N sessions that sent EHLO and wait;
                              print open= before_kb= mid_kb= after_kb=
                              per_session_kb= avg_kb=
  eicar PORT                  send the EICAR test file as an attachment;
                              print code= reply=
  status PID[,PID...]         print hwm_kb= rss_kb= (sums over the PIDs)
  plain SCAN SIGS MSGFILE COPIES DIR
                              the attachment of MSGFILE as a plain file,
                              COPIES times through SCAN (portcullis-scan -j 1);
                              print bytes= cpu_s= startup_cpu_s= (getrusage)
  report RESULTS              print the comparison table

Standard library only, plus bench/scan's benchlib.py (table helpers) and
gen.py (text, executable-like data, random signatures), imported. Owns no
state: run writes every figure to a key=value file and report reads it back.
Every wait here is bounded in time and every loop in count.
"""

import os
import resource
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scan"))
import benchlib  # noqa: E402  (bench/scan/benchlib.py)
import gen  # noqa: E402       (bench/scan/gen.py)

KIB = 1024
MIB = 1024 * 1024
FROM = "sender@bench.example"
RCPT = "rcpt@bench.example"
HELO = "bench.example"
VERSION = 2

# The messages: name, wire size (CRLF line ends, before dot-stuffing), kind.
MESSAGES = [("4k", 4 * KIB, "plain"), ("100k", 100 * KIB, "attach"),
            ("2m", 2 * MIB, "attach")]
LABELS = {"4k": "4 KiB plain", "100k": "100 KiB attachment", "2m": "2 MiB attachment"}
PATHS = ["direct", "portcullis", "clamsmtp"]

# The EICAR test file, in two pieces so that this file is not itself one.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-"
         b"ANTIVIRUS-TEST-FILE!$H+H*")


# ---------------------------------------------------------------------------
# gen: messages and signatures
# ---------------------------------------------------------------------------

def wire_len(text):
    """Length of text (LF line ends) on the wire, where every LF is CRLF."""
    return len(text) + text.count(b"\n")


def headers(r, subject, extra):
    return ("From: Bench Sender <%s>\nTo: <%s>\nSubject: %s\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\n"
            "Message-ID: <%08x.%s>\nMIME-Version: 1.0\n%s" % (
                FROM, RCPT, subject, r.getrandbits(32), HELO, extra)).encode()


def text_body(r, size):
    """About size bytes of log-like text, every line shorter than 998 bytes
    and none starting with a dot."""
    t = gen.gen_text(r, size)
    t = t[:t.rfind(b"\n") + 1] if b"\n" in t else t + b"\n"
    return t


def plain_message(r, size):
    """A text/plain message of exactly size bytes on the wire."""
    h = headers(r, "Plain text report",
                "Content-Type: text/plain; charset=us-ascii\n"
                "Content-Transfer-Encoding: 7bit\n\n")
    text = b""
    for _ in range(100):
        if len(text) >= size:
            break
        text += text_body(r, size)
    out = h
    for line in text.splitlines(keepends=True):
        if wire_len(out + line) > size - 10:
            break
        out += line
    # Pad with one last line to the exact size (CRLF included).
    out += b"x" * (size - wire_len(out) - 2) + b"\n"
    return out


def attach_message(r, size):
    """A multipart/mixed message of about size bytes on the wire: a short
    text part and an executable-like attachment in base64."""
    import base64
    boundary = "=_bench_%08x" % r.getrandbits(32)
    h = headers(r, "Quarterly figures",
                "Content-Type: multipart/mixed; boundary=\"%s\"\n\n" % boundary)
    text = text_body(r, 1500)
    part1 = ("--%s\nContent-Type: text/plain; charset=us-ascii\n"
             "Content-Transfer-Encoding: 7bit\n\n" % boundary).encode() + text
    part2h = ("--%s\nContent-Type: application/octet-stream; name=\"setup.dat\"\n"
              "Content-Transfer-Encoding: base64\n"
              "Content-Disposition: attachment; filename=\"setup.dat\"\n\n" % boundary).encode()
    tail = ("--%s--\n" % boundary).encode()
    over = wire_len(h + part1 + part2h + tail)
    # 57 raw bytes make one 76-character line, 78 bytes with CRLF.
    raw = max(57, (size - over) * 57 // 78)
    data = gen.gen_exe(r, raw)
    b64 = base64.encodebytes(data)  # 76-character lines ending in LF
    return h + part1 + part2h + b64 + tail


def write_sigs(work, srcdir, kind, seed):
    """WORK/sigs: the bundled signatures, and with kind "bench" 6,000 random
    body and 20,000 random MD5 signatures from bench/scan's generator."""
    d = os.path.join(work, "sigs")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    bundled = os.path.join(srcdir, "sigs")
    for name in sorted(os.listdir(bundled)):
        if name.rsplit(".", 1)[-1] in ("ndb", "hdb", "hsb", "ldb", "cvd", "cld"):
            shutil.copy(os.path.join(bundled, name), d)
    if kind == "bundled":
        return
    r = gen.random.Random("smtp-sigs:%s" % seed)
    lines, seen = [], set()
    for _ in range(100000):
        if len(lines) >= 6000:
            break
        off, sig = gen.random_body_sig(r)
        if sig not in seen:
            seen.add(sig)
            lines.append("Bench.Body.%06d:0:%s:%s\n" % (len(lines) + 1, off, sig))
    with open(os.path.join(d, "bench.ndb"), "w") as f:
        f.writelines(lines)
    with open(os.path.join(d, "bench.hdb"), "w") as f:
        for i in range(20000):
            f.write("%s:%d:Bench.Hash.%06d\n" % (r.randbytes(16).hex(),
                                                 gen.log_uniform(r, KIB, 64 * MIB), i + 1))


def cmd_gen(argv):
    work, srcdir = argv[0], argv[1]
    kind, seed = "bench", "1"
    rest = argv[2:]
    for _ in range(len(rest)):
        if not rest:
            break
        if rest[0] == "--sigs" and len(rest) > 1:
            kind, rest = rest[1], rest[2:]
        elif rest[0] == "--seed" and len(rest) > 1:
            seed, rest = rest[1], rest[2:]
        else:
            print("gen: unknown option %s" % rest[0], file=sys.stderr)
            return 2
    if kind not in ("bench", "bundled"):
        print("gen: --sigs bench|bundled", file=sys.stderr)
        return 2
    stamp = "smtpbench.py v%d seed=%s sigs=%s\n" % (VERSION, seed, kind)
    sp = os.path.join(work, "STAMP")
    try:
        with open(sp) as f:
            if f.read() == stamp:
                return 0
    except FileNotFoundError:
        pass
    os.makedirs(os.path.join(work, "msgs"), exist_ok=True)
    for name, size, kindm in MESSAGES:
        r = gen.random.Random("smtp-msg:%s:%s" % (seed, name))
        m = plain_message(r, size) if kindm == "plain" else attach_message(r, size)
        with open(os.path.join(work, "msgs", name + ".eml"), "wb") as f:
            f.write(m)
    write_sigs(work, srcdir, kind, seed)
    with open(sp, "w") as f:
        f.write(stamp)
    return 0


# ---------------------------------------------------------------------------
# processes and sockets
# ---------------------------------------------------------------------------

def cmd_freeports(argv):
    socks = []
    for _ in range(int(argv[0])):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()
    return 0


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_reply(f):
    """Reads one SMTP reply (all its lines) from a socket file; returns
    (code, text) or (0, "") at EOF."""
    lines = []
    for _ in range(200):
        line = f.readline(4096)
        if not line:
            return 0, ""
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    try:
        code = int(lines[-1][:3])
    except ValueError:
        code = 0
    return code, " | ".join(lines)


def cmd_wait_smtp(argv):
    port, timeout = int(argv[0]), float(argv[1])
    pid = int(argv[2]) if len(argv) > 2 else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid and not alive(pid):
            print("wait-smtp: process %d exited" % pid, file=sys.stderr)
            return 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                f = s.makefile("rb")
                code, text = read_reply(f)
                if code == 220:
                    s.sendall(b"QUIT\r\n")
                    return 0
        except OSError:
            pass
        time.sleep(0.05)
    print("wait-smtp: 127.0.0.1:%d did not answer 220 within %s s" % (port, timeout),
          file=sys.stderr)
    return 1


def pids_of(arg):
    return [int(p) for p in arg.split(",") if p]


def cpu_ticks(pids):
    t = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return t


def cmd_settle(argv):
    """Waits until the processes used no CPU for 0.3 s, at most 10 s."""
    pids = pids_of(argv[0])
    deadline = time.monotonic() + 10
    prev = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        cur = cpu_ticks(pids)
        if cur == prev:
            return 0
        prev = cur
    return 0


def status_kb(pids):
    """(VmHWM, VmRSS) in KiB summed over pids."""
    hwm = rss = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k == "VmHWM":
                        hwm += int(v.split()[0])
                    elif k == "VmRSS":
                        rss += int(v.split()[0])
        except FileNotFoundError:
            pass
    return hwm, rss


def cmd_status(argv):
    hwm, rss = status_kb(pids_of(argv[0]))
    print("hwm_kb=%d rss_kb=%d" % (hwm, rss))
    return 0


# ---------------------------------------------------------------------------
# throughput: smtp-source with a time cap
# ---------------------------------------------------------------------------

def cmd_source(argv):
    """Runs smtp-source -c -d and reads its counter with the time each number
    arrived. smtp-source counts a message when it has sent the final dot
    (before the reply) and flushes the number at once. A run that ends by
    itself has every message answered: rate = n / time to exit. A run stopped
    at CAP seconds: rate = last count / time of the last count, the steady
    rate of dots sent; up to one message per session may be unanswered."""
    port, msgfile, sessions, count, cap, errlog = (int(argv[0]), argv[1], int(argv[2]),
                                                   int(argv[3]), float(argv[4]), argv[5])
    pids = pids_of(argv[6]) if len(argv) > 6 else []
    hz = os.sysconf("SC_CLK_TCK")
    ticks0 = cpu_ticks(pids)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = ["smtp-source", "-c", "-d", "-s", str(sessions), "-m", str(count), "-F", msgfile,
           "-f", FROM, "-t", RCPT, "-M", HELO, "127.0.0.1:%d" % port]
    err = open(errlog, "ab")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    fd = p.stdout.fileno()
    deadline = t0 + cap
    n, tn, buf, capped = 0, None, b"", 0
    for _ in range(100_000_000):
        left = deadline - time.monotonic()
        if left <= 0:
            capped = 1
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        d = os.read(fd, 65536)
        if not d:
            break
        now = time.monotonic()
        buf += d
        parts = buf.replace(b"\n", b"\r").split(b"\r")
        buf = parts.pop()
        for x in reversed(parts):
            if x.strip().isdigit():
                n, tn = int(x), now
                break
    if capped:
        p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(cap + 60)
        t_end = time.monotonic()
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait(10)
        t_end = time.monotonic()
    cpu = (cpu_ticks(pids) - ticks0) / float(hz)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    src_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    if capped:
        rc = 0 if rc in (-signal.SIGTERM, 143) else rc
    if capped:
        secs = (tn - t0) if tn else (time.monotonic() - t0)
    else:
        secs = t_end - t0
    rate = n / secs if n and secs > 0 else 0.0
    print("n=%d secs=%.3f rate=%.1f capped=%d rc=%d cpu_s=%.2f src_cpu_s=%.2f" % (
        n, secs, rate, capped, rc, cpu, src_cpu))
    return 0


# ---------------------------------------------------------------------------
# latency, idle sessions, EICAR
# ---------------------------------------------------------------------------

def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def cmd_latency(argv):
    """One session, EHLO once, then N transactions one after the other; the
    time of each from MAIL to the reply to the final dot."""
    port, msgfile, n = int(argv[0]), argv[1], int(argv[2])
    with open(msgfile, "rb") as f:
        msg = crlf(f.read())
    times, errors, last = [], 0, ""
    s = smtplib.SMTP("127.0.0.1", port, local_hostname=HELO, timeout=120)
    s.ehlo(HELO)
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            code, _ = s.mail(FROM)
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"MAIL")
            code, _ = s.rcpt(RCPT)
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"RCPT")
            code, _ = s.data(msg)
            times.append(time.perf_counter() - t0)
        except smtplib.SMTPResponseException as e:
            errors += 1
            last = "%s %s" % (e.smtp_code, e.smtp_error)
            s.rset()
    try:
        s.quit()
    except smtplib.SMTPException:
        pass
    ms = [t * 1000 for t in times]
    print("n=%d errors=%d p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f%s" % (
        len(ms), errors, percentile(ms, 50) or 0, percentile(ms, 99) or 0,
        sum(ms) / len(ms) if ms else 0, (" last_error=%r" % last) if errors else ""))
    return 0


def open_idle(port, n, socks, deadline):
    """Opens n more sessions that read the banner, sent EHLO and read its
    reply; appends them to socks. Returns "" or what went wrong."""
    for i in range(n):
        if time.monotonic() > deadline:
            return "deadline after %d sessions" % len(socks)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            f = s.makefile("rb")
            code, text = read_reply(f)
            if code != 220:
                s.close()
                return "banner %r" % text
            s.sendall(("EHLO %s\r\n" % HELO).encode())
            code, text = read_reply(f)
            if code != 250:
                s.close()
                return "EHLO %r" % text
            socks.append((s, f))
        except OSError as e:
            return "session %d: %s" % (len(socks) + 1, e)
    return ""


def cmd_idle(argv):
    """Opens N sessions in two halves, each session past EHLO and waiting, and
    reads the processes' VmRSS before, after the first half and after all.
    per_session_kb is the growth over the second half divided by its
    sessions: the first half may be served from memory the allocator already
    held, the second half pays its own way. avg_kb is the growth over all N."""
    port, n, pids = int(argv[0]), int(argv[1]), pids_of(argv[2])
    half = n // 2
    cmd_settle([argv[2]])
    _, before = status_kb(pids)
    socks = []
    deadline = time.monotonic() + 120
    fail = open_idle(port, half, socks, deadline)
    time.sleep(0.5)
    cmd_settle([argv[2]])
    _, mid = status_kb(pids)
    nmid = len(socks)
    if not fail:
        fail = open_idle(port, n - half, socks, deadline)
    time.sleep(0.5)
    cmd_settle([argv[2]])
    _, after = status_kb(pids)
    for s, f in socks:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        f.close()
        s.close()
    second = len(socks) - nmid
    per = (after - mid) / second if second > 0 else 0
    avg = (after - before) / len(socks) if socks else 0
    print("open=%d before_kb=%d mid_kb=%d after_kb=%d per_session_kb=%.1f avg_kb=%.1f%s" % (
        len(socks), before, mid, after, per, avg, (" error=%r" % fail) if fail else ""))
    return 0


def cmd_eicar(argv):
    port = int(argv[0])
    boundary = "=_eicar"
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: test file\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
           "--%s\r\nContent-Type: text/plain\r\n\r\nThe test file is attached.\r\n"
           "--%s\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n"
           "Content-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n" % (
               FROM, RCPT, boundary, boundary, boundary)).encode() + EICAR + \
        ("\r\n--%s--\r\n" % boundary).encode()
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname=HELO, timeout=60)
        s.ehlo(HELO)
        s.mail(FROM)
        s.rcpt(RCPT)
        s.putcmd("data")
        code, _ = s.getreply()
        if code == 354:
            s.send(smtplib.quotedata(msg.decode("latin-1")).encode("latin-1") + b"\r\n.\r\n")
            code, text = s.getreply()
        else:
            text = b"DATA refused"
        s.close()
        print("code=%d reply=%s" % (code, text.decode("latin-1").replace("\n", " | ")))
    except (OSError, smtplib.SMTPException) as e:
        print("code=0 reply=%s" % str(e).replace("\n", " "))
    return 0


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def report(path):
    res = benchlib.load_results(path)
    num = benchlib.num
    fmt = benchlib.fmt
    w = sys.stdout.write
    sessions = [int(x) for x in res.get("sessions", "1 10 50").split()]
    status = 0

    w("\nPortcullis SMTP benchmark: smtp-source -d (HELO, 1 recipient, sessions kept open), "
      "smtp-sink next hop\n")
    w("machine: %s CPUs, %s; portcullisd workers %s; clamd MaxThreads %s\n" % (
        res.get("ncpu", "?"), res.get("cpu", "?"), res.get("pc_workers", "?"),
        res.get("cd_threads", "?")))
    la = num(res, "loadavg_start")
    if la is not None and la >= 0.5:
        w("NOTE: load average %.2f before the run: other processes compete for the CPUs "
          "and the figures are noisy\n" % la)
    w("signatures (both scanners): %s\n" % res.get("sigs_desc", "?"))
    w("messages: %s; each run stops at %s messages or %s s\n" % (
        ", ".join("%s %s bytes" % (LABELS[m], res.get("msg_%s_bytes" % m, "?"))
                  for m, _, _ in MESSAGES), res.get("counts", "?"), res.get("cap", "?")))
    w("\n")

    w("%-20s %4s %9s %11s %10s %10s %12s  %s\n" % (
        "messages/s", "sess", "direct", "portcullis", "clamsmtp", "pc/direct", "pc/clamsmtp",
        "aim"))
    notes = []
    for m, _, _ in MESSAGES:
        for s in sessions:
            rate = {}
            for p in PATHS:
                k = "tp_%s_%s_%d" % (p, m, s)
                rate[p] = num(res, k + "_rate")
                if res.get(k + "_capped") == "1":
                    notes.append("%s %s %d sessions: stopped at the time cap after %s "
                                 "messages" % (p, LABELS[m], s, res.get(k + "_n")))
                if res.get(k + "_rc") not in (None, "0"):
                    notes.append("WARNING: %s %s %d sessions: smtp-source exited %s "
                                 "(see out/%s.err)" % (p, LABELS[m], s, res.get(k + "_rc"), k))
                    status = 1
            rd = benchlib.ratio(rate["portcullis"], rate["direct"])
            rc = benchlib.ratio(rate["portcullis"], rate["clamsmtp"])
            aim = ""
            if m == "4k" and s == max(sessions):
                aim = ">= 0.80x direct %s" % benchlib.verdict(rd, 0.8)
            elif m != "4k":
                aim = ">= 5x clamsmtp %s" % benchlib.verdict(rc, 5.0)
            w(("%-20s %4d %9s %11s %10s %10s %12s  %s" % (
                LABELS[m], s, fmt(rate["direct"]), fmt(rate["portcullis"]),
                fmt(rate["clamsmtp"]), "" if rd is None else "%.2fx" % rd,
                "" if rc is None else "%.2fx" % rc, aim)).rstrip() + "\n")
    w("\n")

    # CPU time per message, from the processes' own counters: less sensitive
    # to other load than the rates, and what a rate on a shared machine is
    # made of.
    def us_per_msg(path, m, s, key):
        k = "tp_%s_%s_%d" % (path, m, s)
        c, n = num(res, k + "_" + key), num(res, k + "_n")
        return None if c is None or not n else c / n * 1e6

    w("CPU time per message (us, user+sys; 10 ms clock ticks); pc/cs = portcullisd / "
      "(clamsmtpd+clamd):\n")
    w("%-20s %4s %10s %12s %12s %16s %6s  %s\n" % ("", "sess", "smtp-sink", "smtp-source",
                                                  "portcullisd", "clamsmtpd+clamd", "pc/cs",
                                                  "aim"))
    for m, _, _ in MESSAGES:
        for s in sessions:
            pc, cs = us_per_msg("portcullis", m, s, "cpu_s"), us_per_msg("clamsmtp", m, s, "cpu_s")
            r = benchlib.ratio(pc, cs)
            w(("%-20s %4d %10s %12s %12s %16s %6s  %s" % (
                LABELS[m], s, fmt(us_per_msg("direct", m, s, "cpu_s")),
                fmt(us_per_msg("direct", m, s, "src_cpu_s")), fmt(pc), fmt(cs),
                "" if r is None else "%.2f" % r,
                "<= 0.20 %s" % benchlib.verdict(r, 0.2, higher_is_better=False))).rstrip() +
              "\n")
    smax = max(sessions)
    x = [us_per_msg("direct", "4k", smax, k) for k in ("cpu_s", "src_cpu_s")]
    pcu = us_per_msg("portcullis", "4k", smax, "cpu_s")
    if None not in x and pcu is not None:
        x = x[0] + x[1]
        w("When the CPUs are the limit, pc/direct is about x/(x+p), x = sink+source, "
          "p = portcullisd: the 0.80x aim\nneeds p <= 0.25x = %s us for 4 KiB at %d sessions; "
          "p = %s us (x/(x+p) = %.2f)\n" % (fmt(0.25 * x), smax, fmt(pcu), x / (x + pcu)))
    for m in ("100k", "2m"):
        x = [us_per_msg("direct", m, smax, k) for k in ("cpu_s", "src_cpu_s")]
        pcu = us_per_msg("portcullis", m, smax, "cpu_s")
        csu = us_per_msg("clamsmtp", m, smax, "cpu_s")
        if None in x or pcu is None or csu is None:
            continue
        x = x[0] + x[1]
        w("%s at %d sessions: pc/clamsmtp is about (x+c)/(x+p) = %.2f when the CPUs are the "
          "limit (c = clamsmtpd+clamd);\n  a free proxy (p = 0) would reach %.2f; "
          "p/c = %.2f\n" % (LABELS[m], smax, (x + csu) / (x + pcu), (x + csu) / x, pcu / csu))
    # The mail path's rate against the engine's on plain files (cmd_plain).
    pb, pcs = num(res, "plain_bytes"), num(res, "plain_cpu_s")
    pcu = us_per_msg("portcullis", "2m", smax, "cpu_s")
    mb = num(res, "msg_2m_bytes")
    if None not in (pb, pcs, pcu, mb) and pcs > 0 and pcu > 0:
        mail_rate, plain_rate = mb / pcu, pb / pcs / 1e6
        w("mail path: %.0f MB/s per core vs plain files %.0f MB/s per core (ratio %.2f)\n"
          "  (2 MiB message at %d sessions: its bytes on the wire / portcullisd's CPU time; "
          "plain: its attachment as a file, portcullis-scan -j 1)\n" % (
              mail_rate, plain_rate, mail_rate / plain_rate, smax))
    w("\n")

    w("latency, one session, MAIL to the reply to the final dot (ms; added = minus direct):\n")
    w("%-20s %5s %15s %27s %27s\n" % ("", "n", "direct p50/p99", "portcullis p50/p99 (added)",
                                     "clamsmtp p50/p99 (added)"))
    for m, _, _ in MESSAGES:
        d50, d99 = num(res, "lat_direct_%s_p50_ms" % m), num(res, "lat_direct_%s_p99_ms" % m)
        cells = []
        for p in ("portcullis", "clamsmtp"):
            a50 = num(res, "lat_%s_%s_p50_ms" % (p, m))
            a99 = num(res, "lat_%s_%s_p99_ms" % (p, m))
            add = ""
            if None not in (a50, a99, d50, d99):
                add = " (+%s/+%s)" % (fmt(a50 - d50), fmt(a99 - d99))
            cells.append("%s/%s%s" % (fmt(a50), fmt(a99), add))
            if res.get("lat_%s_%s_errors" % (p, m)) not in (None, "0"):
                notes.append("WARNING: latency %s %s: %s errors, last %s" % (
                    p, LABELS[m], res.get("lat_%s_%s_errors" % (p, m)),
                    res.get("lat_%s_%s_last_error" % (p, m), "?")))
                status = 1
        w("%-20s %5s %15s %27s %27s\n" % (LABELS[m], res.get("lat_direct_%s_n" % m, "?"),
                                          "%s/%s" % (fmt(d50), fmt(d99)), cells[0], cells[1]))
    w("\n")

    kib = 1024.0
    pc_hwm = num(res, "pc_hwm_kb")
    cs_hwm, cd_hwm = num(res, "cs_hwm_kb"), num(res, "cd_hwm_kb")
    both = None if cs_hwm is None or cd_hwm is None else cs_hwm + cd_hwm
    w("peak RSS (VmHWM, MiB): portcullisd %s; clamsmtpd %s + clamd %s = %s\n" % (
        fmt(None if pc_hwm is None else pc_hwm / kib), fmt(None if cs_hwm is None else
                                                          cs_hwm / kib),
        fmt(None if cd_hwm is None else cd_hwm / kib), fmt(None if both is None else both / kib)))
    w("  portcullisd after start %s MiB; clamd after loading the signatures %s MiB\n" % (
        fmt(None if num(res, "pc_start_kb") is None else num(res, "pc_start_kb") / kib),
        fmt(None if num(res, "cd_start_kb") is None else num(res, "cd_start_kb") / kib)))
    pis = num(res, "idle_portcullis_per_session_kb")
    cis = num(res, "idle_clamsmtp_per_session_kb")
    w("idle sessions (%s open after EHLO; KiB of RSS per session, second half / all): "
      "portcullisd %s / %s (aim < 64 KiB %s); clamsmtpd %s / %s\n" % (
          res.get("idle_portcullis_open", "?"), fmt(pis),
          fmt(num(res, "idle_portcullis_avg_kb")),
          benchlib.verdict(pis, 64.0, higher_is_better=False), fmt(cis),
          fmt(num(res, "idle_clamsmtp_avg_kb"))))
    for p in ("portcullis", "clamsmtp"):
        if res.get("idle_%s_error" % p):
            notes.append("WARNING: idle sessions %s: %s" % (p, res["idle_%s_error" % p]))
            status = 1
    w("EICAR attachment: portcullis %s; clamsmtp %s\n" % (
        res.get("eicar_portcullis", "?"), res.get("eicar_clamsmtp", "?")))
    if not res.get("eicar_portcullis", "").startswith("code=5"):
        notes.append("WARNING: portcullis did not reject the EICAR message")
        status = 1
    pcm, pcs = num(res, "pc_messages_logged"), num(res, "pc_messages_sent")
    slack = num(res, "pc_messages_slack") or 0
    if pcm is not None and pcs is not None:
        w("portcullisd logged %d messages for %d sent (runs stopped at the cap may leave "
          "up to %d unanswered)\n" % (pcm, pcs, slack))
        if pcm < pcs - slack:
            notes.append("WARNING: portcullisd logged fewer messages than were counted")
            status = 1
    for n in notes:
        w(n + "\n")
    return status


def cmd_plain(argv):
    """The engine's plain-file rate on the bytes the mail path decodes: the
    attachment of MSGFILE written once and hard-linked COPIES times, scanned
    by one portcullis-scan with one thread; its CPU time (getrusage of the
    child) less that of a run over one tiny file (start-up, signatures from
    the compiled cache)."""
    import email
    scan, sigs, msgfile, copies, d = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    with open(msgfile, "rb") as f:
        msg = email.message_from_binary_file(f)
    data = None
    for part in msg.walk():
        if part.get_filename():
            data = part.get_payload(decode=True)
    if data is None:
        print("plain: no attachment in %s" % msgfile, file=sys.stderr)
        return 1
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "files"))
    first = os.path.join(d, "files", "0.bin")
    with open(first, "wb") as f:
        f.write(data)
    for i in range(1, copies):
        os.link(first, os.path.join(d, "files", "%d.bin" % i))
    with open(os.path.join(d, "tiny.txt"), "w") as f:
        f.write("tiny\n")

    def cpu(target):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([scan, "-d", sigs, "--cache-dir", os.path.join(d, "cache"), "-j", "1",
                        "-q", "--no-summary", "-r", target], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL,
                       check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    cpu(os.path.join(d, "tiny.txt"))  # compiles and caches the signatures
    startup = min(cpu(os.path.join(d, "tiny.txt")) for _ in range(3))
    total = cpu(os.path.join(d, "files"))
    print("bytes=%d cpu_s=%.4f startup_cpu_s=%.4f" % (len(data) * copies, total - startup,
                                                      startup))
    return 0


def main(argv):
    cmds = {"gen": (cmd_gen, 2), "freeports": (cmd_freeports, 1),
            "wait-smtp": (cmd_wait_smtp, 2), "settle": (cmd_settle, 1),
            "source": (cmd_source, 6), "latency": (cmd_latency, 3), "idle": (cmd_idle, 3),
            "eicar": (cmd_eicar, 1), "status": (cmd_status, 1), "plain": (cmd_plain, 5)}
    if len(argv) == 3 and argv[1] == "report":
        return report(argv[2])
    if len(argv) >= 2 and argv[1] in cmds:
        fn, nargs = cmds[argv[1]]
        if len(argv) - 2 >= nargs:
            return fn(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
