#!/usr/bin/python3
"""
benchlib.py: the small jobs of bench/scan/run that bash does badly.

  clamd-start CONF SOCK LOG TIMEOUT   start clamd, time it to the first PONG
  rss PID                             peak and current RSS of a process (KiB)
  found OUT ROOT                      distinct corpus files named in FOUND lines
  report RESULTS MANIFEST             print the comparison table

Standard library only. Owns no state; run writes every figure to a
key=value file (RESULTS) and report reads it back.
"""

import json
import os
import socket
import subprocess
import sys
import time


def clamd_start(conf, sock, log, timeout):
    """Starts /usr/sbin/clamd -c conf in the foreground (it keeps running when
    we exit) and prints `pid=N load_s=S`, S being the time from exec to the
    first PONG answer to zPING on sock. Exits 1 if clamd dies or never answers."""
    try:
        os.unlink(sock)
    except FileNotFoundError:
        pass
    out = open(log, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(["/usr/sbin/clamd", "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT)
    deadline = t0 + float(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("clamd exited with status %d; see %s" % (proc.returncode, log),
                  file=sys.stderr)
            return 1
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(sock)
            s.sendall(b"zPING\0")
            reply = s.recv(64)
            s.close()
            if reply.startswith(b"PONG"):
                print("pid=%d load_s=%.3f" % (proc.pid, time.monotonic() - t0))
                return 0
        except OSError:
            pass
        time.sleep(0.005)
    print("clamd did not answer PING within %s s; see %s" % (timeout, log), file=sys.stderr)
    proc.terminate()
    return 1


def rss(pid):
    """Prints `hwm_kb=N rss_kb=M` from /proc/PID/status."""
    vals = {}
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    print("hwm_kb=%d rss_kb=%d" % (vals.get("VmHWM", 0), vals.get("VmRSS", 0)))
    return 0


def found_files(out, root):
    """The set of corpus-relative paths of top-level files named in FOUND lines.
    A hit inside a container is reported as `a.zip//member: X FOUND` by
    portcullis-scan and as `a.zip: X FOUND` by clamdscan; both count a.zip."""
    files = set()
    root = os.path.abspath(root).rstrip("/") + "/"
    with open(out, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.endswith(" FOUND"):
                continue
            path = line[:line.rfind(": ")]
            path = path.split("//")[0]
            path = os.path.abspath(path)
            if path.startswith(root):
                path = path[len(root):]
            files.add(path)
    return files


def load_results(path):
    res = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                res[k] = v
    return res


def num(res, key):
    try:
        return float(res[key])
    except (KeyError, ValueError):
        return None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if v >= 100:
        return "%.0f%s" % (v, unit)
    if v >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(r, aim, higher_is_better=True):
    if r is None or aim is None:
        return ""
    ok = r >= aim if higher_is_better else r < aim
    return "ok" if ok else "MISSED"


def report(results, manifest):
    res = load_results(results)
    with open(manifest) as f:
        man = json.load(f)
    work = res.get("work", os.path.dirname(os.path.abspath(manifest)))
    expected = {e["path"] for e in man["expected"]}

    lb, lf = man["large_bytes"], man["large_files"]
    sb, sf = man["small_bytes"], man["small_files"]
    pl = num(res, "pc_large_scan_s")
    ps = num(res, "pc_small_scan_s")
    cl = num(res, "cd_large_s")
    cs = num(res, "cd_small_s")

    def mbps(b, s):
        return None if s is None or s <= 0 else b / 1e6 / s

    def fps(n, s):
        return None if s is None or s <= 0 else n / s

    rows = []
    # (label, portcullis, clamd, aim text, aim ratio, higher is better)
    rows.append(("large: MB/s", mbps(lb, pl), mbps(lb, cl), ">= 10x", 10.0, True))
    rows.append(("large: files/s", fps(lf, pl), fps(lf, cl), "", None, True))
    rows.append(("small: files/s", fps(sf, ps), fps(sf, cs), ">= 3x", 3.0, True))
    rows.append(("small: MB/s", mbps(sb, ps), mbps(sb, cs), "", None, True))
    rows.append(("database load (s)", num(res, "pc_load_s"), num(res, "cd_load_s"), "", None,
                 False))
    rows.append(("  cold, no cache (s)", num(res, "pc_load_cold_s"), num(res, "cd_load_s"), "",
                 None, False))
    pr = max([x for x in (num(res, "pc_large_rss_kb"), num(res, "pc_small_rss_kb"))
              if x is not None], default=None)
    cr = num(res, "cd_hwm_kb")
    rows.append(("peak RSS (MiB)", None if pr is None else pr / 1024,
                 None if cr is None else cr / 1024, "< 1x", 1.0, False))

    w = sys.stdout.write
    w("\n")
    w("Portcullis scan benchmark: %s\n" % man["stamp"])
    w("machine: %s CPUs, %s; portcullis-scan -j %s; clamd MaxThreads %s, clamdscan %s\n" % (
        res.get("ncpu", "?"), res.get("cpu", "?"), res.get("jobs", "?"),
        res.get("jobs", "?"), res.get("cd_transport", "?")))
    la0, la1 = num(res, "loadavg_start"), num(res, "loadavg_end")
    if la0 is not None and la0 >= 0.5:
        w("NOTE: load average %.2f before the run: other processes compete for the CPUs "
          "and the figures are noisy\n" % la0)
    w("signatures: %d body (.ndb) + %d hash (.hdb)\n" % (man["body_sigs"], man["hash_sigs"]))
    w("corpus: large/ %d files, %.1f MB (%d archive members inside); "
      "small/ %d files, %.1f MB\n" % (lf, lb / 1e6, man["large_archive_members"], sf, sb / 1e6))
    w("\n")
    w("%-22s %15s %12s %9s %8s %7s\n" % ("", "portcullis-scan", "clamd", "ratio", "aim", ""))
    for label, p, c, aimtxt, aim, hib in rows:
        r = ratio(p, c)
        w("%-22s %15s %12s %9s %8s %7s\n" % (label, fmt(p), fmt(c),
                                          "" if r is None else "%.2fx" % r, aimtxt,
                                          verdict(r, aim, hib)))
    w("\n")

    # Raw Hyperscan: the engine's limit on the same patterns.
    jobs = res.get("jobs", "1")
    raw1 = num(res, "raw_large_t1_mbps")
    rawn = num(res, "raw_large_tn_mbps")
    raws = num(res, "raw_small_tn_fps")
    w("raw Hyperscan (block mode, corpus in memory, %s patterns compiled in %s ms):\n" % (
        res.get("raw_compiled", "?"), res.get("raw_compile_ms", "?")))
    w("  large: %s MB/s on 1 thread, %s MB/s on %s threads; small: %s files/s on %s threads\n"
      % (fmt(raw1), fmt(rawn), jobs, fmt(raws), jobs))
    rr = ratio(mbps(lb, pl), rawn)
    w("  portcullis-scan / raw, large MB/s at %s threads: %s   aim >= 0.50x %s\n" % (
        jobs, "n/a" if rr is None else "%.2fx" % rr, verdict(rr, 0.5, True)))
    rs = ratio(fps(sf, ps), raws)
    w("  portcullis-scan / raw, small files/s at %s threads: %s\n" % (
        jobs, "n/a" if rs is None else "%.2fx" % rs))
    w("\n")

    w("portcullis-scan: large wall %s s, small wall %s s, each less its startup "
      "(%s / %s s, from its log); startup on an empty file %s s (build %s ms, cache=%s)\n" % (
          fmt(num(res, "pc_large_wall_s")), fmt(num(res, "pc_small_wall_s")),
          fmt(num(res, "pc_large_ready_s")), fmt(num(res, "pc_small_ready_s")),
          fmt(num(res, "pc_load_s")), res.get("pc_compile_ms") or "?",
          res.get("pc_cache") or "?"))
    cold_rss = num(res, "pc_cold_rss_kb")
    w("portcullis-scan: cold start without a cache %s s (Hyperscan compile %s ms, "
      "peak RSS %s MiB, the cache then written); the scans above read the cache\n" % (
          fmt(num(res, "pc_load_cold_s")), res.get("pc_cold_compile_ms") or "?",
          fmt(None if cold_rss is None else cold_rss / 1024)))
    w("clamd: database load = exec to first PONG; RSS after load %s MiB, peak %s MiB\n" % (
        fmt(None if num(res, "cd_load_hwm_kb") is None else num(res, "cd_load_hwm_kb") / 1024),
        fmt(None if cr is None else cr / 1024)))
    hot = num(res, "pc_hot_ms")
    w("hot addition: %s\n" % ("%s ms" % fmt(hot) if hot is not None else
                               res.get("pc_hot_note", "not measured")))

    # Sanity: both scanners found the planted files, and the same ones.
    status = 0
    outs = {"portcullis-scan": [res.get("pc_large_out"), res.get("pc_small_out")],
            "clamd": [res.get("cd_large_out"), res.get("cd_small_out")]}
    sets = {}
    for who, files in outs.items():
        s = set()
        for f in files:
            if f and os.path.exists(f):
                s |= found_files(f, work)
        sets[who] = s
    w("infected files: expected %d, portcullis-scan %d, clamd %d\n" % (
        len(expected), len(sets["portcullis-scan"]), len(sets["clamd"])))
    if len(sets["portcullis-scan"]) != len(sets["clamd"]):
        w("WARNING: the scanners found different numbers of infected files\n")
        status = 1
    for who, s in sets.items():
        if s != expected:
            w("WARNING: %s: missed %s; unexpected %s\n" % (
                who, sorted(expected - s) or "none", sorted(s - expected) or "none"))
            status = 1
    for k in ("pc_large_rc", "pc_small_rc", "cd_large_rc", "cd_small_rc"):
        if res.get(k) not in (None, "0", "1"):
            w("WARNING: %s exited with status %s (errors or unscanned files)\n" % (k[:-3],
                                                                                  res[k]))
            status = 1
    return status


def main(argv):
    if len(argv) >= 6 and argv[1] == "clamd-start":
        return clamd_start(argv[2], argv[3], argv[4], argv[5])
    if len(argv) == 3 and argv[1] == "rss":
        return rss(argv[2])
    if len(argv) == 4 and argv[1] == "found":
        files = found_files(argv[2], argv[3])
        print(len(files))
        return 0
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
