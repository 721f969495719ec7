#!/usr/bin/python3
"""
gen.py: writes the scan benchmark's signatures and corpus, deterministically.

Owns everything under the output directory (bench/scan/work/ by default):

  sigs/bench.ndb   body signatures in ClamAV .ndb syntax, valid for ClamAV
                   and for Portcullis' engine
  sigs/bench.hdb   MD5 hash signatures (md5:size:name)
  large/           >= 1 GiB of mixed files, 64 KiB to 64 MiB
  small/           10,000 files of 4 KiB in 10 folders
  manifest.json    sizes, counts and the files each planted signature hits
  STAMP            version and parameters; a rerun with the same stamp does
                   nothing

Every byte comes from random.Random seeded with a string derived from
--seed, so the same seed gives the same files on every machine. Only the
Python standard library is used.

Signatures are random, so they match nothing by chance (every static run
is at least 6 bytes, most 16 to 48). A handful of "Bench.Planted.*"
signatures match content planted in known files, and a few hash signatures
are the MD5 of real corpus files: both scanners must report exactly the
files listed in manifest.json.
"""

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import random
import shutil
import sys
import tarfile
import time
import zipfile

VERSION = 4

KIB = 1024
MIB = 1024 * 1024

# ---------------------------------------------------------------------------
# Content generators. Each takes its own Random so that a file's bytes depend
# only on the seed and the file's name.
# ---------------------------------------------------------------------------

WORDS = (
    "accepted connection closed session opened user request response cache "
    "miss hit backend upstream timeout retry queue worker started stopped "
    "config reload signal received client server token expired refresh "
    "database query slow index table commit rollback lock wait granted "
    "disk usage warning error notice debug info memory pressure swap "
    "network interface link up down packet dropped route added deleted "
    "certificate verify ok failed handshake cipher protocol version"
).split()
HOSTS = ["web%02d" % i for i in range(1, 17)] + ["db%02d" % i for i in range(1, 5)]
PROCS = ["sshd", "nginx", "postgres", "cron", "kernel", "systemd", "dockerd", "app"]
PATHS = ["/", "/index.html", "/api/v1/items", "/api/v1/users", "/static/app.js",
         "/static/style.css", "/login", "/logout", "/search", "/img/logo.png"]
AGENTS = ["curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
          "python-requests/2.28.1", "Go-http-client/1.1", "Wget/1.21.3"]


def gen_text(r, size):
    """Log-like ASCII text of exactly size bytes (syslog, access log, CSV)."""
    out = []
    n = 0
    t = r.randrange(1_600_000_000, 1_700_000_000)
    style = r.randrange(3)
    ri = r.randrange
    while n < size:
        t += ri(3)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        if style == 0:
            k = ri(4, 12)
            msg = " ".join(r.choices(WORDS, k=k))
            line = "%s.%03dZ %s %s[%d]: %s id=%08x n=%d\n" % (
                ts, ri(1000), HOSTS[ri(len(HOSTS))], PROCS[ri(len(PROCS))],
                ri(100, 65000), msg, r.getrandbits(32), ri(100000))
        elif style == 1:
            line = '10.%d.%d.%d - - [%s +0000] "GET %s?id=%d HTTP/1.1" %d %d "-" "%s"\n' % (
                ri(256), ri(256), ri(256), ts, PATHS[ri(len(PATHS))], ri(1000000),
                (200, 200, 200, 304, 404, 500)[ri(6)], ri(100, 200000),
                AGENTS[ri(len(AGENTS))])
        else:
            line = "%s,%d,%s,%.4f,%.2f,%s\n" % (
                ts, ri(10**9), HOSTS[ri(len(HOSTS))], r.random() * 1000, r.random() * 100,
                "-".join(r.choices(WORDS, k=ri(1, 4))))
        out.append(line)
        n += len(line)
    return "".join(out).encode("ascii")[:size]


def gen_binary(r, size):
    """Incompressible random bytes."""
    return r.randbytes(size)


def gen_exe(r, size):
    """Executable-like bytes: code-like random runs, zero padding, string tables."""
    parts = []
    n = 0
    ri = r.randrange
    while n < size:
        kind = ri(10)
        if kind < 5:
            blk = r.randbytes(ri(4 * KIB, 64 * KIB))
        elif kind < 7:
            blk = bytes(ri(256, 8 * KIB))
        elif kind < 9:
            blk = ("\0".join(r.choices(WORDS + PROCS, k=ri(50, 400))) + "\0").encode()
        else:
            unit = r.randbytes(ri(4, 32))
            blk = unit * ri(16, 512)
        parts.append(blk)
        n += len(blk)
    return b"".join(parts)[:size]


GENERATORS = {"text": gen_text, "bin": gen_binary, "exe": gen_exe}
EXT = {"text": "log", "bin": "bin", "exe": "dat"}


def log_uniform(r, lo, hi):
    """An integer in [lo, hi), uniform on a log scale."""
    return int(math.exp(r.uniform(math.log(lo), math.log(hi))))


# ---------------------------------------------------------------------------
# Signatures.
# ---------------------------------------------------------------------------

ASCII_SIG_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789(){};=.,_$"
COMMON_PREFIXES = ["558bec", "e800000000", "6a0068", "ff15", "8b4508", "31c0"]


def hx(b):
    return b.hex()


def static_part(r, lo, hi, ascii_only=False):
    n = r.randrange(lo, hi + 1)
    if ascii_only:
        return "".join(r.choices(ASCII_SIG_CHARS, k=n)).encode()
    return r.randbytes(n)


def with_wildcards(r, b, count, kind):
    """Hex of b with `count` interior bytes replaced by ?? or nibble wildcards.

    The first and last 6 bytes stay static, and wildcards are never adjacent,
    so every static run ClamAV sees is long enough."""
    n = len(b)
    cells = [hx(b[i:i + 1]) for i in range(n)]
    slots = list(range(6, n - 6, 2))
    for i in r.sample(slots, min(count, len(slots))):
        if kind == "??":
            cells[i] = "??"
        elif r.random() < 0.5:
            cells[i] = cells[i][0] + "?"
        else:
            cells[i] = "?" + cells[i][1]
    return "".join(cells)


def random_body_sig(r):
    """Returns (offset, hexsig) for one random, never-matching body signature."""
    x = r.random()
    if x < 0.55:
        return "*", hx(static_part(r, 16, 48))
    if x < 0.67:
        return "*", hx(static_part(r, 16, 48, ascii_only=True))
    if x < 0.72:
        return "*", r.choice(COMMON_PREFIXES) + hx(static_part(r, 12, 36))
    if x < 0.82:
        b = static_part(r, 20, 40)
        if r.random() < 0.3:
            # a fixed gap {n} in the middle
            h = len(b) // 2
            return "*", hx(b[:h]) + "{%d}" % r.randrange(2, 16) + hx(b[h:])
        return "*", with_wildcards(r, b, r.randrange(1, 4), "??")
    if x < 0.86:
        b = static_part(r, 20, 40)
        return "*", with_wildcards(r, b, r.randrange(1, 3), "nibble")
    if x < 0.90:
        a, c = static_part(r, 8, 20), static_part(r, 8, 20)
        if r.random() < 0.6:
            alts = {hx(bytes([r.randrange(256)])) for _ in range(r.randrange(2, 5))}
        else:
            w = r.randrange(2, 4)
            alts = {hx(r.randbytes(w)) for _ in range(r.randrange(2, 4))}
        alts = sorted(alts)
        if len(alts) < 2:
            alts.append(hx(bytes([(int(alts[0][:2], 16) + 1) % 256])) + alts[0][2:])
        return "*", hx(a) + "(" + "|".join(alts) + ")" + hx(c)
    if x < 0.96:
        parts = [hx(static_part(r, 8, 20)) for _ in range(r.randrange(2, 4))]
        out = parts[0]
        for p in parts[1:]:
            lo = r.randrange(0, 16)
            form = r.random()
            if form < 0.8:
                out += "{%d-%d}" % (lo, lo + r.randrange(1, 32))
            elif form < 0.9:
                out += "{-%d}" % r.randrange(1, 32)
            else:
                out += "{%d-}" % lo
            out += p
        return "*", out
    if x < 0.98:
        return "*", hx(static_part(r, 10, 20)) + "*" + hx(static_part(r, 10, 20))
    if x < 0.99:
        b = static_part(r, 16, 32)
        off = str(r.randrange(0, 4096))
        if r.random() < 0.5:
            off += ",%d" % r.randrange(1, 256)
        return off, hx(b)
    b = static_part(r, 16, 32)
    return "EOF-%d" % r.randrange(len(b), 4096), hx(b)


class Plants:
    """The planted signatures and the bytes that match them.

    Each plant has a name, an .ndb offset, a hex signature, the bytes to
    plant, and the kind of file it goes in ("bin", "text", "exe", "small",
    "zip", "tgz"). where(size) gives the offset inside the file to plant at.
    """

    def __init__(self, seed):
        r = random.Random("plants:%s" % seed)
        self.items = []

        def asc(n):
            return "".join(r.choices(ASCII_SIG_CHARS, k=n)).encode()

        p = r.randbytes(32)
        self.add("Bench.Planted.Plain", "*", hx(p), p, "bin", lambda sz: sz // 3)

        a, b, c = asc(12), asc(8), asc(10)
        hole, fill = asc(2), asc(7)
        sig = hx(a) + "????" + hx(b) + "{4-12}" + hx(c)
        self.add("Bench.Planted.Gap", "*", sig, a + hole + b + fill + c, "text",
                 lambda sz: sz // 2)

        p = r.randbytes(24)
        self.add("Bench.Planted.Abs", "1024,16", hx(p), p, "bin", lambda sz: 1030)

        p = r.randbytes(32)
        self.add("Bench.Planted.Eof", "EOF-64", hx(p), p, "bin", lambda sz: sz - 64)

        p = r.randbytes(28)
        self.add("Bench.Planted.Small", "*", hx(p), p, "small", lambda sz: 1000)

        p = asc(28)
        self.add("Bench.Planted.Zip", "*", hx(p), p, "zip", lambda sz: sz // 2)

        a, b, c = asc(8), asc(8), asc(8)
        sig = hx(a) + "(41|42|43)" + hx(b) + "4?" + hx(c)
        self.add("Bench.Planted.Tgz", "*", sig, a + b"B" + b + b"J" + c, "tgz",
                 lambda sz: sz // 4)

        a, b = r.randbytes(16), r.randbytes(16)
        self.add("Bench.Planted.Star", "*", hx(a) + "*" + hx(b), (a, b), "exe",
                 lambda sz: sz // 5)

    def add(self, name, off, sig, data, kind, where):
        self.items.append({"name": name, "offset": off, "sig": sig, "data": data,
                           "kind": kind, "where": where, "file": None})

    def take(self, kind):
        """The first unplaced plant for a file of this kind, or None."""
        for p in self.items:
            if p["file"] is None and p["kind"] == kind:
                return p
        return None


def plant(buf, p, size):
    """Returns buf with plant p's bytes written over it."""
    at = p["where"](size)
    assert size >= 128 * KIB or p["kind"] in ("small", "zip", "tgz")
    b = bytearray(buf)
    if isinstance(p["data"], tuple):
        first, second = p["data"]
        b[at:at + len(first)] = first
        at2 = at + 100 * KIB
        b[at2:at2 + len(second)] = second
    else:
        b[at:at + len(p["data"])] = p["data"]
    assert len(b) == size
    return bytes(b)


# ---------------------------------------------------------------------------
# Corpus.
# ---------------------------------------------------------------------------

ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def member_list(r, total):
    """Kinds and sizes of archive members adding up to about total bytes."""
    out = []
    n = 0
    while n < total:
        # the first member is text, so a pending plant always finds one
        kind = r.choice(["text", "text", "bin", "exe"]) if out else "text"
        sz = min(log_uniform(r, 16 * KIB, 8 * MIB), max(total - n, 4 * KIB))
        out.append((kind, sz))
        n += sz
    return out


def make_zip(r, name, plants, member_sizes):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (kind, sz) in enumerate(member_list(r, r.choice(member_sizes))):
            data = GENERATORS[kind](r, sz)
            if kind == "text":
                p = plants.take("zip")
                if p:
                    data = plant(data, p, sz)
                    p["file"] = name
            zi = zipfile.ZipInfo("dir%d/member%02d.%s" % (i % 3, i, EXT[kind]), ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data, compresslevel=6)
    return buf.getvalue()


def make_tgz(r, name, plants, member_sizes):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i, (kind, sz) in enumerate(member_list(r, r.choice(member_sizes))):
            data = GENERATORS[kind](r, sz)
            if kind == "text":
                p = plants.take("tgz")
                if p:
                    data = plant(data, p, sz)
                    p["file"] = name
            ti = tarfile.TarInfo("pkg/member%02d.%s" % (i, EXT[kind]))
            ti.size = len(data)
            ti.mtime = 1704067200
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def gen_large(out, seed, target, plants, log):
    """Writes large/ until it holds target bytes; returns the file list."""
    r = random.Random("large-plan:%s" % seed)
    os.makedirs(os.path.join(out, "large"))
    files = []
    total = 0
    i = 0
    archive_sizes = [256 * KIB, 1 * MIB, 4 * MIB, 12 * MIB, 24 * MIB]
    # Plants placed early, so the carrier files exist for any target >= 64 MiB.
    forced = ["bin", "text", "zip", "tgz", "exe", "bin", "bin"]
    while total < target and i < 100000:
        if i < len(forced):
            kind = forced[i]
        else:
            kind = r.choices(["bin", "text", "exe", "zip", "tgz"], weights=[40, 32, 13, 8, 7])[0]
        name = "large/%04d.%s" % (i, {"zip": "zip", "tgz": "tar.gz"}.get(kind, EXT.get(kind)))
        fr = random.Random("file:%s:%s" % (seed, name))
        if kind == "zip":
            data = make_zip(fr, name, plants, archive_sizes)
        elif kind == "tgz":
            data = make_tgz(fr, name, plants, archive_sizes)
        else:
            size = log_uniform(r, 64 * KIB, 64 * MIB) if i >= len(forced) else \
                log_uniform(r, 1 * MIB, 8 * MIB)
            data = GENERATORS[kind](fr, size)
            p = plants.take(kind)
            if p:
                data = plant(data, p, size)
                p["file"] = name
        write_file(os.path.join(out, name), data)
        files.append({"path": name, "kind": kind, "size": len(data)})
        total += len(data)
        i += 1
        if i % 20 == 0:
            log("  large: %d files, %.0f MiB" % (i, total / MIB))
    return files


def gen_small(out, seed, count, plants):
    """Writes count files of 4 KiB under small/NN/; returns the file list."""
    r = random.Random("small-plan:%s" % seed)
    files = []
    ndirs = max(1, (count + 999) // 1000)
    for d in range(ndirs):
        os.makedirs(os.path.join(out, "small", "%02d" % d))
    for i in range(count):
        kind = r.choices(["text", "bin", "exe"], weights=[40, 40, 20])[0]
        name = "small/%02d/%05d.%s" % (i % ndirs, i, EXT[kind])
        data = GENERATORS[kind](random.Random("file:%s:%s" % (seed, name)), 4 * KIB)
        if i == count // 2:
            p = plants.take("small")
            data = plant(data, p, 4 * KIB)
            p["file"] = name
        write_file(os.path.join(out, name), data)
        files.append({"path": name, "kind": kind, "size": len(data)})
    return files


def archive_member_sizes(out, files):
    """Sizes of the members inside the large archives (scanners hash them too)."""
    sizes = []
    for f in files:
        path = os.path.join(out, f["path"])
        if f["kind"] == "zip":
            with zipfile.ZipFile(path) as zf:
                sizes += [zi.file_size for zi in zf.infolist()]
        elif f["kind"] == "tgz":
            with tarfile.open(path, "r:gz") as tf:
                sizes += [ti.size for ti in tf.getmembers() if ti.isfile()]
    return sizes


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def write_sigs(out, seed, nbody, nhash, plants, large, small, member_sizes):
    """Writes sigs/bench.ndb and sigs/bench.hdb; returns the expected detections."""
    r = random.Random("sigs:%s" % seed)
    os.makedirs(os.path.join(out, "sigs"))
    lines = []
    seen = set()
    while len(lines) < nbody:
        off, sig = random_body_sig(r)
        if sig in seen:
            continue
        seen.add(sig)
        lines.append("Bench.Body.%06d:0:%s:%s\n" % (len(lines) + 1, off, sig))
    expected = []
    for p in plants.items:
        if p["file"] is None:
            raise SystemExit("gen.py: plant %s found no carrier file" % p["name"])
        lines.append("%s:0:%s:%s\n" % (p["name"], p["offset"], p["sig"]))
        expected.append({"path": p["file"], "sig": p["name"]})
    with open(os.path.join(out, "sigs", "bench.ndb"), "w") as f:
        f.writelines(lines)

    # Hash sizes follow the corpus: a quarter are 4 KiB (every small file
    # must be hashed), a quarter are exact sizes of a tenth of the large
    # files and archive members (sizes collide in real databases too), the
    # rest spread over the large range and rarely equal to a file's size.
    planted = {e["path"] for e in expected}
    exact = sorted({f["size"] for f in large} | set(member_sizes))
    exact = r.sample(exact, max(1, len(exact) // 10))
    hlines = []
    digests = set()
    while len(hlines) < nhash:
        d = r.randbytes(16).hex()
        if d in digests:
            continue
        digests.add(d)
        x = r.random()
        if x < 0.25:
            size = 4 * KIB
        elif x < 0.5:
            size = r.choice(exact)
        else:
            size = log_uniform(r, 1 * KIB, 64 * MIB)
        hlines.append("%s:%d:Bench.Hash.%06d\n" % (d, size, len(hlines) + 1))
    # A few hash signatures that match real files (not already planted ones).
    picks = [f for f in small if f["path"] not in planted]
    picks = [picks[len(picks) // 7], picks[len(picks) * 5 // 7]]
    picks += [min((f for f in large if f["kind"] == "bin" and f["path"] not in planted),
                  key=lambda f: f["size"])]
    for k, f in enumerate(picks):
        name = "Bench.Planted.Hash%d" % (k + 1)
        hlines.append("%s:%d:%s\n" % (md5_file(os.path.join(out, f["path"])), f["size"], name))
        expected.append({"path": f["path"], "sig": name})
    with open(os.path.join(out, "sigs", "bench.hdb"), "w") as f:
        f.writelines(hlines)
    return expected, len(lines), len(hlines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "work"), help="output directory")
    ap.add_argument("--seed", default="1", help="PRNG seed (any string)")
    ap.add_argument("--large-mib", type=int, default=1100,
                    help="size of large/ in MiB (default 1100, at least 64)")
    ap.add_argument("--small-files", type=int, default=10000, help="files in small/")
    ap.add_argument("--body", type=int, default=6000, help="random body signatures")
    ap.add_argument("--hashes", type=int, default=20000, help="random hash signatures")
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    if a.large_mib < 64 or a.small_files < 8 or a.body < 1 or a.hashes < 1:
        ap.error("--large-mib >= 64, --small-files >= 8, --body and --hashes >= 1")

    def log(msg):
        if not a.quiet:
            print(msg, file=sys.stderr, flush=True)

    stamp = "gen.py v%d seed=%s large_mib=%d small_files=%d body=%d hashes=%d\n" % (
        VERSION, a.seed, a.large_mib, a.small_files, a.body, a.hashes)
    stamp_path = os.path.join(a.out, "STAMP")
    try:
        with open(stamp_path) as f:
            if f.read() == stamp and not a.force:
                log("gen.py: %s is up to date (%s)" % (a.out, stamp.strip()))
                return 0
    except FileNotFoundError:
        pass

    t0 = time.monotonic()
    os.makedirs(a.out, exist_ok=True)
    for sub in ("STAMP", "manifest.json", "sigs", "large", "small"):
        p = os.path.join(a.out, sub)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)

    plants = Plants(a.seed)
    log("gen.py: writing %s (%s)" % (a.out, stamp.strip()))
    large = gen_large(a.out, a.seed, a.large_mib * MIB, plants, log)
    small = gen_small(a.out, a.seed, a.small_files, plants)
    log("  small: %d files" % len(small))
    members = archive_member_sizes(a.out, large)
    expected, nbody, nhash = write_sigs(a.out, a.seed, a.body, a.hashes, plants, large, small,
                                        members)
    manifest = {
        "stamp": stamp.strip(),
        "large_files": len(large),
        "large_bytes": sum(f["size"] for f in large),
        "large_archive_members": len(members),
        "small_files": len(small),
        "small_bytes": sum(f["size"] for f in small),
        "body_sigs": nbody,
        "hash_sigs": nhash,
        "expected": sorted(expected, key=lambda e: e["path"]),
        "large": large,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(stamp_path, "w") as f:
        f.write(stamp)
    log("gen.py: done in %.0f s: %d large files (%.0f MiB), %d small files, "
        "%d body + %d hash signatures, %d planted detections" % (
            time.monotonic() - t0, len(large), manifest["large_bytes"] / MIB, len(small),
            nbody, nhash, len(expected)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
