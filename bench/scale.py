#!/usr/bin/env python3
"""Cost against size: the dense stdout shape (a metric dict every 2 steps, string values, an eval
block every 5,000 steps) at 10 MB, 100 MB, 1 GB and 4 GB, each read by losscmp and by `wc -l`,
in one go. Prints per size the floor, losscmp's median time, its time per GB, its peak memory
and the points read (every metric's, from the JSON report) and the peak per point.

usage: python3 bench/scale.py [--sizes 10,100,1000,4000] [--repeat 3] [--bin target/release/losscmp]
The logs are written to bench/data/scale/ by generate.py (seeded) unless already there.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run import timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,4000", help="MB, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "losscmp"))
    ap.add_argument("--data", default=os.path.join(HERE, "data", "scale"))
    a = ap.parse_args()
    print(f"{'MB':>6} {'wc -l s':>8} {'losscmp s':>10} {'s per GB':>9} {'÷floor':>7} {'peak MB':>8} {'points':>10} {'bytes/pt':>9}")
    for mb in [int(x) for x in a.sizes.split(",")]:
        out = os.path.join(a.data, f"{mb}mb")
        log = os.path.join(out, "stdout_dense.log")
        if not os.path.exists(log):
            subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--only", "stdout_dense",
                            "--dense-mb", str(mb), "--out", out], check=True, stdout=subprocess.DEVNULL)
        size = os.path.getsize(log) / 1e6
        f_s, _ = timed(["wc", "-l", log], a.repeat)
        l_s, rss = timed([a.bin, log, "--json", "-"], a.repeat)
        doc = json.loads(subprocess.run([a.bin, log, "--json", "-"], capture_output=True, text=True, check=True).stdout)
        points = sum(m.get("points", 0) for r in doc["runs"] for m in r["metrics"].values())
        print(f"{size:>6.0f} {f_s:>8.3f} {l_s:>10.3f} {l_s / size * 1000:>9.3f} {l_s / f_s:>7.1f} {rss:>8.0f} {points:>10} {rss * 1e6 / max(points, 1):>9.1f}")


if __name__ == "__main__":
    main()
