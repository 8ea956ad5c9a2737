#!/usr/bin/env python3
"""Mutation fuzzing of losscmp over its fixtures (issue 13).

Takes the files under fixtures/, breaks them the ways real logs break (truncations, byte flips,
NUL runs, invalid UTF-8, huge and non-finite numbers, deep nesting, very long lines, gzip,
TFRecord CRCs recomputed so the damage reaches the decoder), and runs the binary on each case
with a time limit and a memory limit. A case fails when losscmp

  - exits with anything but 0, 1 or 2, or is killed (a crash, or the memory limit: out of memory);
  - prints a Rust panic;
  - runs past the time limit (a hang);
  - prints a raw control character on stdout or stderr (NO_COLOR is set, so there is no colour);
  - writes JSON that does not parse, or an HTML report or SVG chart that is not well-formed;
  - changes one of its input files.

Failing cases are kept under --keep (default fuzz/failures/) with the command and the reason.
Seeded and time-boxed:

    python3 fuzz/mutate.py --cases 300 --seed 1 --seconds 600     # CI's pass: the same 300 cases
    python3 fuzz/mutate.py --seconds 3600 --binary target/release/losscmp   # an hour

Standard library only.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
TOKENS = [b"NaN", b"nan", b"Infinity", b"-Infinity", b"inf", b"1e309", b"-1e308", b"1e308",
          b"9223372036854775807", b"-1", b"0", b"null", b"true", b"\"\"", b"'", b"\"",
          b"\x1b]0;PWNED\x07", b"\x1b[2J", b"{", b"}", b"[", b"]", b",", b":", b"|", b"\r",
          b"\n", b"\t", b"\xff\xfe", b"\xc3", b"\xe2\x82", b"\x00", b"{'loss': ", b"'epoch': ",
          b"\"step\": ", b"\"loss\": ", b"***** Running training *****\n",
          b"  Num update steps per epoch = NaN\n", b"  Total optimization steps = 0\n",
          b"world size: 0", b"%|", b" 1/0 [", b"iteration 1/ 0 |"]


# ---- TFRecord CRCs (masked CRC-32C), so mutated event files pass framing checks sometimes ----
def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_reframe(data, rng):
    """Mutates the payload of one record of a TFRecord file and recomputes both CRCs."""
    records, i = [], 0
    while i + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        if i + 12 + n + 4 > len(data):
            break
        records.append(bytearray(data[i + 12:i + 12 + n]))
        i += 12 + n + 4
    if not records:
        return data
    k = rng.randrange(len(records))
    records[k] = bytearray(mutate_bytes(bytes(records[k]), rng, depth=1))
    out = bytearray()
    for r in records:
        head = struct.pack("<Q", len(r))
        out += head + struct.pack("<I", masked(head)) + r + struct.pack("<I", masked(bytes(r)))
    return bytes(out)


# ---- mutations ----
def mutate_bytes(data, rng, depth=0):
    ops = ["truncate", "flip", "token", "nul_tail", "delete", "duplicate", "utf8", "number"]
    if depth == 0:
        ops += ["nest", "long_line", "crlf", "splice"]
    op = rng.choice(ops)
    n = len(data)
    pos = rng.randrange(n + 1) if n else 0
    if op == "truncate":
        return data[:pos]
    if op == "flip" and n:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            j = rng.randrange(n)
            b[j] ^= 1 << rng.randrange(8)
        return bytes(b)
    if op == "token":
        return data[:pos] + rng.choice(TOKENS) + data[pos:]
    if op == "nul_tail":
        return data[:pos] + b"\0" * rng.choice([1, 2, 512, 4096]) + rng.choice([b"", b"garbage\xff"])
    if op == "delete" and n:
        end = min(n, pos + rng.randint(1, 200))
        return data[:pos] + data[end:]
    if op == "duplicate" and n:
        end = min(n, pos + rng.randint(1, 2000))
        return data[:end] + data[pos:end] + data[end:]
    if op == "utf8":
        return data[:pos] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x9f"]) + data[pos:]
    if op == "number":
        m = list(re.finditer(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?", data))
        if m:
            x = rng.choice(m)
            rep = rng.choice([b"1e309", b"-1e308", b"1e308", b"NaN", b"0", b"-0", b"1e-320",
                              b"18446744073709551617", b"9223372036854775807", b"-1", b"nan"])
            return data[:x.start()] + rep + data[x.end():]
        return data
    if op == "nest":
        d = rng.choice([100, 1000, 100000])
        return data[:pos] + b"[" * d + b"{\"a\":" * (d // 10) + data[pos:]
    if op == "long_line":
        size = rng.choice([2 << 20, 16 << 20, 100 << 20])
        return data[:pos] + b"x" * size + data[pos:]
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "splice" and n:
        a, b = sorted(rng.randrange(n) for _ in range(2))
        return data[:a] + data[b:] + data[a:b]
    return data


def mutate(data, name, rng):
    if name.startswith("events.out.tfevents") and rng.random() < 0.6:
        out = tfrecord_reframe(data, rng)
    else:
        out = data
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            out = mutate_bytes(out, rng)
    if rng.random() < 0.05:
        out = gzip.compress(out, 1)
    return out


def kind(p):
    """The kind of a fixture file, so that each kind is mutated about as often (the fixtures hold
    dozens of checkpoint states and MLflow parameter files, and one nanoGPT log)."""
    if "mlruns" in p.parts:
        return "mlflow"
    if p.name.startswith("events.out.tfevents"):
        return "tfevents"
    return p.suffix or p.name


def fixture_files():
    groups = {}
    for p in sorted((ROOT / "fixtures").rglob("*")):
        if p.is_file() and p.stat().st_size < 4 << 20 and p.suffix not in (".md", ".py", ".sh", ".png"):
            groups.setdefault(kind(p), []).append(p)
    return groups


def limit_memory(mb):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    return apply


def digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def well_formed_svgs(page):
    for m in re.finditer(r"<svg\b.*?</svg>", page, re.S):
        ET.fromstring(m.group(0))


def check(args, case_dir, run_dir, timeout, memory_mb):
    """Runs one case; returns None or the reason it failed."""
    inputs = [p for p in run_dir.rglob("*") if p.is_file()]
    before = digest(inputs)
    html, md, svg = case_dir / "out.html", case_dir / "out.md", case_dir / "out.svg"
    cmd = [str(args.binary), str(run_dir)] + (["fixtures/lf_1gpu_ga8"] if args.rng.random() < 0.5 else [])
    cmd += ["--json", "-", "--out", str(html), "--markdown", str(md), "--plot", str(svg)]
    env = dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1")
    env.pop("GITHUB_ACTIONS", None)
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=timeout,
                           preexec_fn=limit_memory(memory_mb), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return cmd, "hang: no exit within %ds" % timeout
    took = time.monotonic() - start
    if p.returncode not in (0, 1, 2):
        return cmd, "exit %s (crash or out of memory); stderr: %s" % (p.returncode, p.stderr[-400:])
    if b"panicked" in p.stderr:
        return cmd, "panic: %s" % p.stderr[-600:]
    for what, out in (("stdout", p.stdout), ("stderr", p.stderr)):
        m = CONTROL.search(out)
        if m:
            return cmd, "raw control character %r on %s" % (m.group(0), what)
    if p.returncode < 2:
        try:
            json.loads(p.stdout)
        except ValueError as e:
            return cmd, "JSON does not parse: %s" % e
        try:
            page = html.read_text()
            well_formed_svgs(page)
            ET.fromstring(svg.read_text())
        except (OSError, ET.ParseError, UnicodeDecodeError) as e:
            return cmd, "malformed HTML/SVG output: %s" % e
        if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", page):
            return cmd, "control character in the HTML report"
        if "<img" in md.read_text(errors="replace"):
            return cmd, "raw HTML in the Markdown summary"
    if digest(inputs) != before:
        return cmd, "an input file was changed"
    args.slowest = max(args.slowest, took)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cases", type=int, default=0,
                    help="stop after this many cases (0: no limit); with --seed, the same cases every time")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "losscmp")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per case before it is a hang")
    ap.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per case")
    ap.add_argument("--keep", type=Path, default=ROOT / "fuzz" / "failures")
    args = ap.parse_args()
    if not args.binary.exists():
        sys.exit("fuzz: %s not built (cargo build first)" % args.binary)
    args.rng = random.Random(args.seed)
    args.slowest = 0.0
    files = fixture_files()
    deadline = time.monotonic() + args.seconds
    counts, failures, kinds = 0, [], {}
    with tempfile.TemporaryDirectory(prefix="losscmp-fuzz-") as tmp:
        tmp = Path(tmp)
        while time.monotonic() < deadline and (args.cases == 0 or counts < args.cases):
            src = args.rng.choice(files[args.rng.choice(sorted(files))])
            case_dir = tmp / ("case%d" % counts)
            run_dir = case_dir / "run"
            run_dir.mkdir(parents=True)
            # Half the cases keep the file's siblings (a run directory with one damaged file).
            if args.rng.random() < 0.5 and src.parent != ROOT / "fixtures":
                for sib in src.parent.iterdir():
                    if sib.is_file() and sib != src and sib.stat().st_size < 4 << 20:
                        shutil.copy(sib, run_dir / sib.name)
            data = mutate(src.read_bytes(), src.name, args.rng)
            (run_dir / src.name).write_bytes(data)
            op = "case %d: %s" % (counts, src.relative_to(ROOT))
            kinds[kind(src)] = kinds.get(kind(src), 0) + 1
            bad = check(args, case_dir, run_dir, args.timeout, args.memory_mb)
            counts += 1
            if bad:
                cmd, why = bad
                failures.append((op, why))
                keep = args.keep / ("case%d" % (counts - 1))
                shutil.rmtree(keep, ignore_errors=True)
                shutil.copytree(run_dir, keep / "run")
                (keep / "REASON").write_text("%s\n%s\n%s\n" % (op, " ".join(cmd), why))
                print("FAIL %s: %s" % (op, why), flush=True)
            shutil.rmtree(case_dir, ignore_errors=True)
    print("fuzz: %d cases in %.0f s (seed %d), %d failures; slowest passing case %.2f s"
          % (counts, time.monotonic() - deadline + args.seconds, args.seed, len(failures), args.slowest))
    print("fuzz: inputs by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
