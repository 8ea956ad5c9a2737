#!/usr/bin/env python3
"""How early losscmp calls the under-updating signature on the real 8-process run.

Two measurements of the same question, on fixtures/gen/lf2_8proc_ga8 against
fixtures/gen/lf2_1gpu_ga8 (the real LLaMA-Factory pair, 48 vs 384 optimizer steps):

1. Prefixes: for every k, the run directory with only the first k rows of trainer_log.jsonl and
   the matching part of train.log is compared with the baseline (`--json -`); the first k whose
   findings hold `oversized-effective-batch` as an error (p < 0.01 at matched samples; from the
   configuration alone it is a warning from the first row) is reported, with the
   samples the live run had seen by then and that as a share of its 6,144.
2. Replay: the run is written into a fresh directory at its real pace (the rows' logged
   `elapsed_time`, 45 s in all) while `losscmp BASE live --follow --interval 1 --fail-on error`
   watches it; the time it exits with status 1 and the samples read by then are reported.

    python3 bench/early_call.py [--binary target/release/losscmp] [--speedup 1]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVE = os.path.join(ROOT, "fixtures/gen/lf2_8proc_ga8")
BASE = os.path.join(ROOT, "fixtures/gen/lf2_1gpu_ga8")
TOTAL_SAMPLES = 48 * 128


def parts():
    with open(os.path.join(LIVE, "train.log"), encoding="utf-8") as f:
        log = f.read().splitlines(keepends=True)
    with open(os.path.join(LIVE, "trainer_log.jsonl"), encoding="utf-8") as f:
        rows = f.read().splitlines()
    dicts = [i for i, line in enumerate(log) if "{'" in line]
    return log, rows, dicts


def log_upto(log, dicts, rows, k):
    """train.log through the dicts that go with the first k JSONL rows (in proportion)."""
    upto = -(-len(dicts) * k // len(rows))
    end = len(log) if upto >= len(dicts) else dicts[upto]
    return "".join(log[:end])


def prefix_dir(tmp, k, log, rows, dicts):
    d = os.path.join(tmp, f"prefix{k}")
    os.makedirs(d)
    shutil.copy(os.path.join(LIVE, "config.yaml"), d)
    with open(os.path.join(d, "train.log"), "w", encoding="utf-8") as f:
        f.write(log_upto(log, dicts, rows, k) if k else "".join(log[: dicts[0]]))
    with open(os.path.join(d, "trainer_log.jsonl"), "w", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rows[:k]))
    return d


def samples_of(doc, label):
    for r in doc["runs"]:
        if r["label"] == label:
            return r["metrics"].get("loss", {}).get("final_samples")
    return None


def prefixes(binary, tmp):
    log, rows, dicts = parts()
    for k in range(1, len(rows) + 1):
        d = prefix_dir(tmp, k, log, rows, dicts)
        out = subprocess.run(
            [binary, BASE, "--label", f"live={d}", "--json", "-"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if out.returncode != 0:
            continue
        doc = json.loads(out.stdout)
        # The curves' call is the error (p < 0.01 at matched samples); from the configuration
        # alone the finding is a warning from the first row on.
        called = [f for f in doc["findings"] if f["id"] == "oversized-effective-batch" and f["severity"] == "error"]
        if called:
            s = samples_of(doc, "live")
            return k, len(rows), s / 128, s
    return None


def replay(binary, tmp, speedup):
    log, rows, dicts = parts()
    d = os.path.join(tmp, "live")
    os.makedirs(d)
    written = {"rows": 0}

    def writer():
        shutil.copy(os.path.join(LIVE, "config.yaml"), d)
        with open(os.path.join(d, "train.log"), "a", encoding="utf-8") as f:
            f.write("".join(log[: dicts[0]]))
        start = time.monotonic()
        done = dicts[0]
        for i, row in enumerate(rows):
            h, m, s = (float(x) for x in json.loads(row)["elapsed_time"].split(":"))
            wait = (h * 3600 + m * 60 + s) / speedup - (time.monotonic() - start)
            if wait > 0:
                time.sleep(wait)
            text = log_upto(log, dicts, rows, i + 1)
            with open(os.path.join(d, "train.log"), "a", encoding="utf-8") as f:
                f.write(text[len("".join(log[:done])):])
            done = len(text.splitlines(keepends=True))
            with open(os.path.join(d, "trainer_log.jsonl"), "a", encoding="utf-8") as f:
                f.write(row + "\n")
            written["rows"] = i + 1
        for name in ("trainer_state.json", "train_results.json", "all_results.json"):
            shutil.copy(os.path.join(LIVE, name), d)

    t = threading.Thread(target=writer)
    json_out = os.path.join(tmp, "live.json")
    t.start()
    start = time.monotonic()
    out = subprocess.run(
        [binary, BASE, "--label", f"live={d}", "--follow", "--interval", "1",
         "--fail-on", "error", "--json", json_out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    took = time.monotonic() - start
    at_exit = written["rows"]
    t.join()
    with open(json_out, encoding="utf-8") as f:
        doc = json.load(f)
    return out.returncode, took, at_exit, len(rows), samples_of(doc, "live"), out.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/losscmp"))
    ap.add_argument("--speedup", type=float, default=1.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        found = prefixes(args.binary, tmp)
        if found is None:
            print("prefixes: the signature was never called")
        else:
            k, n, step, s = found
            print(
                f"prefixes: first called with {k} of {n} JSONL rows (loss through step {step:.0f} of 48), "
                f"{s:,.0f} of {TOTAL_SAMPLES:,} samples = {100 * s / TOTAL_SAMPLES:.0f}% of the run"
            )
        code, took, at_exit, n, s, err = replay(args.binary, tmp, args.speedup)
        run_s = 45 / args.speedup
        print(
            f"replay at {args.speedup:g}x real pace ({run_s:.0f} s run): exit {code} after {took:.1f} s, "
            f"{at_exit} of {n} rows written; the JSON at the stop had {s:,.0f} of {TOTAL_SAMPLES:,} "
            f"samples = {100 * s / TOTAL_SAMPLES:.0f}% of the run"
        )
        sys.stdout.write("".join(line + "\n" for line in err.splitlines() if "follow" in line))


if __name__ == "__main__":
    main()
