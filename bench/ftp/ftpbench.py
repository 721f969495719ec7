#!/usr/bin/python3
"""
ftpbench.py: the pieces of bench/ftp/run (Python 3 stdlib, plus pyftpdlib
for the server).

    ftpbench.py gen WORK BIG_MIB SMALL_N SMALL_KIB
        writes WORK/files/: big.bin and big.mp4 (the same BIG_MIB MiB of
        random bytes, the .mp4 one behind an MP4 'ftyp' box so that libmagic
        says video/mp4), small/NNNN.bin and small/NNNN.mp4 likewise. Skipped
        when WORK/files/STAMP says the same sizes.
    ftpbench.py serve ROOT
        pyftpdlib on 127.0.0.1, a kernel-picked port, user bench/bench with
        every permission on ROOT; prints "READY PORT", runs until killed.
    ftpbench.py freeports N
        N free TCP ports on 127.0.0.1 (space-separated).
    ftpbench.py xfer PORT LABEL FILES_DIR KIND EXT [TIMEOUT]
        one session: STOR then RETR of the set KIND (big | small) with
        extension EXT (bin | mp4) through 127.0.0.1:PORT (PASV, TYPE I);
        checks every byte that came back; prints one line
        "LABEL KIND EXT stor_s=... retr_s=... bytes=... files=... ok=1".
        Deletes the files on the server afterwards (DELE).
    ftpbench.py eicar PORT
        STOR of EICAR through PORT; prints the final reply.
    ftpbench.py table RESULTS_FILE
        the side-by-side table from the xfer lines and key=value lines.
"""

import ftplib
import hashlib
import os
import random
import socket
import sys
import time

FTYP = bytes.fromhex("00000018667479706d7034320000000069736f6d6d703432")
CHUNK = 1 << 18


def _write_random(path, n, seed, head=b""):
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.write(head)
        left = n - len(head)
        while left > 0:
            k = min(left, 1 << 22)
            f.write(rnd.randbytes(k))
            left -= k


def cmd_gen(work, big_mib, small_n, small_kib):
    big_mib, small_n, small_kib = int(big_mib), int(small_n), int(small_kib)
    files = os.path.join(work, "files")
    stamp = os.path.join(files, "STAMP")
    want = "big=%d small=%dx%d\n" % (big_mib, small_n, small_kib)
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    os.makedirs(os.path.join(files, "small"), exist_ok=True)
    for ext, head in (("bin", b""), ("mp4", FTYP)):
        _write_random(os.path.join(files, "big." + ext), big_mib << 20, 1, head)
        for i in range(small_n):
            _write_random(os.path.join(files, "small", "%04d.%s" % (i, ext)), small_kib << 10,
                          1000 + i, head)
    with open(stamp, "w") as f:
        f.write(want)


def cmd_serve(root):
    import logging
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer
    logging.basicConfig(level=logging.WARNING)
    auth = DummyAuthorizer()
    auth.add_user("bench", "bench", root, perm="elradfmwMT")
    FTPHandler.authorizer = auth
    FTPHandler.permit_foreign_addresses = False
    srv = FTPServer(("127.0.0.1", 0), FTPHandler)
    srv.max_cons = 256
    print("READY %d" % srv.address[1], flush=True)
    srv.serve_forever(timeout=0.5)


def cmd_freeports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def _set(files_dir, kind, ext):
    if kind == "big":
        return [("big." + ext, os.path.join(files_dir, "big." + ext))]
    d = os.path.join(files_dir, "small")
    names = sorted(n for n in os.listdir(d) if n.endswith("." + ext))
    return [("s" + n, os.path.join(d, n)) for n in names]


def _stor(ftp, name, path):
    with open(path, "rb") as f:
        r = ftp.storbinary("STOR " + name, f, CHUNK)
    if not r.startswith("226"):
        raise RuntimeError("STOR %s: %s" % (name, r))


def _retr(ftp, name, path):
    h = hashlib.sha256()
    n = [0]

    def take(b):
        h.update(b)
        n[0] += len(b)

    r = ftp.retrbinary("RETR " + name, take, CHUNK)
    if not r.startswith("226"):
        raise RuntimeError("RETR %s: %s" % (name, r))
    return n[0], h.hexdigest()


def _sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def cmd_xfer(port, label, files_dir, kind, ext, timeout="120"):
    files = _set(files_dir, kind, ext)
    total = sum(os.path.getsize(p) for _, p in files)
    want = {name: _sha(p) for name, p in files}
    ftp = ftplib.FTP(timeout=float(timeout))
    ftp.connect("127.0.0.1", int(port))
    ftp.login("bench", "bench")
    ftp.voidcmd("TYPE I")
    ftp.set_pasv(True)
    t0 = time.monotonic()
    for name, path in files:
        _stor(ftp, name, path)
    t1 = time.monotonic()
    bad = 0
    for name, path in files:
        n, sha = _retr(ftp, name, path)
        if sha != want[name]:
            bad += 1
    t2 = time.monotonic()
    for name, _ in files:
        try:
            ftp.delete(name)
        except ftplib.all_errors:
            pass
    ftp.quit()
    print("%s %s %s stor_s=%.3f retr_s=%.3f bytes=%d files=%d ok=%d" % (
        label, kind, ext, t1 - t0, t2 - t1, total, len(files), int(bad == 0)))
    return 0 if bad == 0 else 1


def _ttfb(port, name, timeout):
    """(ms from RETR to the first data byte, MB/s of the whole RETR)."""
    ftp = ftplib.FTP(timeout=float(timeout))
    ftp.connect("127.0.0.1", int(port))
    ftp.login("bench", "bench")
    ftp.voidcmd("TYPE I")
    ftp.set_pasv(True)
    t0 = time.monotonic()
    conn = ftp.transfercmd("RETR " + name)
    first, n = None, 0
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        if first is None:
            first = time.monotonic() - t0
        n += len(b)
    conn.close()
    r = ftp.voidresp()
    t1 = time.monotonic()
    ftp.quit()
    if not r.startswith("226"):
        raise RuntimeError("RETR %s: %s" % (name, r))
    return first * 1000.0, n / (t1 - t0) / 1e6


def cmd_ttfb(p_direct, p_scanned, p_trickle, files_dir, timeout="120"):
    """Time to first byte of the big file: direct, through portcullisd
    (held until scanned), and through a trickle listener."""
    ftp = ftplib.FTP(timeout=float(timeout))
    ftp.connect("127.0.0.1", int(p_direct))
    ftp.login("bench", "bench")
    ftp.voidcmd("TYPE I")
    _stor(ftp, "ttfb.bin", os.path.join(files_dir, "big.bin"))
    for label, port in (("direct", p_direct), ("scanned", p_scanned),
                        ("trickle", p_trickle)):
        ms, rate = _ttfb(port, "ttfb.bin", timeout)
        print("ttfb_%s_ms=%.1f" % (label, ms))
        print("ttfb_%s_mbs=%.1f" % (label, rate))
    ftp.delete("ttfb.bin")
    ftp.quit()


def cmd_eicar(port):
    import io
    a = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$"
    b = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    ftp = ftplib.FTP(timeout=30)
    ftp.connect("127.0.0.1", int(port))
    ftp.login("bench", "bench")
    try:
        r = ftp.storbinary("STOR eicar.com", io.BytesIO((a + b).encode()))
    except ftplib.all_errors as e:
        r = str(e)
    print(r.replace("\n", " | "))
    ftp.close()


def cmd_table(path):
    rows = {}
    kv = {}
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        if "=" in parts[0]:
            k, _, v = line.strip().partition("=")
            kv[k] = v
            continue
        label, kind, ext = parts[:3]
        f = dict(p.split("=", 1) for p in parts[3:])
        rows[(label, kind, ext)] = f

    def rate(label, kind, ext, op):
        f = rows.get((label, kind, ext))
        if not f or f.get("ok") != "1":
            return None
        s = float(f[op + "_s"])
        return int(f["bytes"]) / s / 1e6 if s > 0 else None

    def fmt(x):
        return "%9.1f" % x if x is not None else "%9s" % "FAILED"

    def ratio(a, b):
        return "%8.2fx" % (a / b) if a and b else "%9s" % "-"

    out = []
    out.append("MB/s (10^6 bytes/s), one session, PASV; 'scanned' = through portcullisd, "
               "'gated' = through portcullisd, type gating skips the file")
    out.append("%-22s %9s %9s %9s %9s %9s" % ("", "direct", "scanned", "gated",
                                              "scan/dir", "gate/dir"))
    for kind, title in (("big", kv.get("big_desc", "big file")),
                        ("small", kv.get("small_desc", "small files"))):
        for op in ("retr", "stor"):
            d = rate("direct", kind, "bin", op)
            s = rate("portcullis", kind, "bin", op)
            g = rate("portcullis", kind, "mp4", op)
            out.append("%-22s %s %s %s %s %s" % ("%s %s" % (op.upper(), title), fmt(d), fmt(s),
                                                 fmt(g), ratio(s, d), ratio(g, d)))
        f = rows.get(("direct", kind, "bin"))
        if kind == "small" and f:
            out.append("%-22s %s" % ("  (files/s direct)", " ".join(
                "%s %.0f" % (op.upper(), int(f["files"]) / float(f[op + "_s"]))
                for op in ("retr", "stor"))))
    if "ttfb_trickle_ms" in kv:
        out.append("RETR %s, time to first byte (ms): direct %s, scanned %s, trickle %s "
                   "(aim < 50 ms in trickle mode)" % (
                       kv.get("big_desc", "big file"), kv.get("ttfb_direct_ms"),
                       kv.get("ttfb_scanned_ms"), kv.get("ttfb_trickle_ms")))
        out.append("RETR %s, MB/s with trickle: %s (direct %s; trickle/direct %.2fx)" % (
            kv.get("big_desc", "big file"), kv.get("ttfb_trickle_mbs"),
            kv.get("ttfb_direct_mbs"),
            float(kv["ttfb_trickle_mbs"]) / float(kv["ttfb_direct_mbs"])))
    for k in ("pc_hwm_mib", "pc_rss_start_mib", "eicar", "transfer_lines", "loadavg_start",
              "ncpu"):
        if k in kv:
            out.append("%s: %s" % (k, kv[k]))
    print("\n".join(out))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmds = {"gen": cmd_gen, "serve": cmd_serve, "freeports": cmd_freeports, "xfer": cmd_xfer,
            "eicar": cmd_eicar, "table": cmd_table, "ttfb": cmd_ttfb}
    fn = cmds.get(argv[1])
    if fn is None:
        print(__doc__)
        return 2
    return fn(*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
