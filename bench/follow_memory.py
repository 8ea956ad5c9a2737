#!/usr/bin/env python3
"""Memory of `--follow` on a run that logs for a week, against one read of the finished log.

A LLaMA-Factory `trainer_log.jsonl` of a week at one row every 10 s (60,480 rows) is written into
a fresh run directory in 120 parts while `losscmp BASE live --follow --interval 0.2 --idle 5`
watches it (re-reading only what was appended each interval); then the finished file is read
once. Peak resident memory (`/usr/bin/time -f %M`) of both is printed: bounded means the follow
costs about what one read of the same points costs, however many intervals it ran.

    python3 bench/follow_memory.py [--binary target/release/losscmp] [--rows 60480] [--parts 120]
"""

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "fixtures/gen/lf2_1gpu_ga8")


def rows(n):
    for s in range(1, n + 1):
        secs = s * 10
        yield json.dumps({
            "current_steps": s, "total_steps": n, "loss": 2.0 / (1 + s / 500) + 0.01 * ((s * 7919) % 13) / 13,
            "lr": 2e-4, "epoch": round(s / n * 3, 4), "percentage": round(100 * s / n, 2),
            "elapsed_time": f"{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}", "remaining_time": "0:00:00",
        })


def peak_kb(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "%M %e"] + cmd, capture_output=True, text=True, cwd=ROOT)
    kb, secs = out.stderr.strip().splitlines()[-1].split()
    return int(kb), float(secs), out.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/losscmp"))
    ap.add_argument("--rows", type=int, default=60_480)
    ap.add_argument("--parts", type=int, default=120)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        live = os.path.join(tmp, "live")
        os.makedirs(live)
        all_rows = list(rows(a.rows))
        path = os.path.join(live, "trainer_log.jsonl")

        def writer():
            per = -(-len(all_rows) // a.parts)
            for i in range(0, len(all_rows), per):
                with open(path, "a", encoding="utf-8") as f:
                    f.write("".join(r + "\n" for r in all_rows[i:i + per]))
                time.sleep(0.25)

        t = threading.Thread(target=writer)
        t.start()
        follow_kb, follow_s, code = peak_kb([a.binary, BASE, "--label", f"live={live}", "--follow",
                                             "--interval", "0.2", "--idle", "5", "--json", os.devnull])
        t.join()
        once_kb, once_s, _ = peak_kb([a.binary, BASE, "--label", f"live={live}", "--json", os.devnull])
        size = os.path.getsize(path)
    print(f"{a.rows:,} rows ({size / 1e6:.1f} MB) written in {a.parts} parts: --follow peak {follow_kb / 1024:.1f} MB "
          f"over {follow_s:.1f} s (exit {code}); one read of the finished log peak {once_kb / 1024:.1f} MB in {once_s:.2f} s; "
          f"ratio {follow_kb / once_kb:.2f}")


if __name__ == "__main__":
    main()
