#!/usr/bin/env python3
"""Runs losscmp, the Python reference and the floors (wc -l, cat) on the generated inputs in one
go and prints medians, ratios and losscmp's peak memory (each floor and losscmp run in turn, so
a ratio compares runs made in the same minutes); for the trainer state also `json.load` of
the file alone (issue 15's yardstick for it).

usage: python3 bench/run.py [--data bench/data] [--repeat 5] [--bin target/release/losscmp]
                            [--python-repeat 1] [--only stdout|state|runs100|report]
Generate the inputs first: python3 bench/generate.py

The report case runs `losscmp runs20x1m/* --out report.html --timings` and takes the report
stage's own time from --timings (reading 20 × 1,000,000 points is measured by the other cases).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def once(cmd):
    """Wall time of one run of `cmd`."""
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def peak_mb(cmd):
    """Peak RSS of one run of `cmd`, in MB."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def timed(cmd, repeat):
    """Median wall time of `cmd` over `repeat` runs (after one warm-up), and the peak RSS in MB."""
    once(cmd)
    return statistics.median(once(cmd) for _ in range(repeat)), peak_mb(cmd)


def side_by_side(floor, cmd, repeat):
    """Medians of the floor's and `cmd`'s wall times over `repeat` runs each, taken in turn (a
    floor run, then a losscmp run, and so on, after one warm-up of each), so both see the same
    minutes of a machine whose speed and page cache move; and `cmd`'s peak RSS in MB."""
    once(floor)
    once(cmd)
    f, c = [], []
    for _ in range(repeat):
        f.append(once(floor))
        c.append(once(cmd))
    return statistics.median(f), statistics.median(c), peak_mb(cmd)


def json_load(path, repeat):
    """Median time of Python's `json.load` of `path` alone, timed inside the interpreter (its
    start-up left out), over `repeat` runs."""
    code = "import json, sys, time\nt = time.perf_counter()\nwith open(sys.argv[1]) as f:\n    json.load(f)\nprint(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True).stdout)
             for _ in range(repeat)]
    return statistics.median(times)


def size_mb(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6
    return os.path.getsize(path) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "losscmp"))
    ap.add_argument("--python-repeat", type=int, default=1, help="the reference is slow; its median is over this many runs")
    ap.add_argument("--only", choices=["stdout", "stdout_dense", "state", "runs100", "report"])
    a = ap.parse_args()
    py = [sys.executable, os.path.join(HERE, "reference.py")]
    runs = os.path.join(a.data, "runs100")
    run_dirs = [os.path.join(runs, d) for d in sorted(os.listdir(runs))] if os.path.isdir(runs) else []
    cases = [
        ("stdout", "stdout.log", [os.path.join(a.data, "stdout.log")], ["wc", "-l", os.path.join(a.data, "stdout.log")]),
        ("stdout_dense", "stdout_dense.log", [os.path.join(a.data, "stdout_dense.log")], ["wc", "-l", os.path.join(a.data, "stdout_dense.log")]),
        ("state", "trainer_state.json", [os.path.join(a.data, "trainer_state.json")], ["wc", "-l", os.path.join(a.data, "trainer_state.json")]),
        ("runs100", "runs100 (100 runs)", run_dirs, ["sh", "-c", f"cat {runs}/*/* > /dev/null"]),
    ]
    print(f"{'input':<22} {'MB':>7} {'floor s':>8} {'losscmp s':>10} {'python s':>9} {'÷floor':>7} {'py÷losscmp':>10} {'peak MB':>8}")
    for key, name, args, floor in cases:
        if a.only not in (None, key):
            continue
        if not args or not all(os.path.exists(x) for x in args):
            print(f"{name:<22} not generated: python3 bench/generate.py --only {key}")
            continue
        mb = size_mb(args[0]) if len(args) == 1 else size_mb(runs)
        f_s, l_s, rss = side_by_side(floor, [a.bin] + args + ["--json", "-"], a.repeat)
        p_s, _ = timed(py + ([runs] if len(args) > 1 else args), a.python_repeat)
        print(f"{name:<22} {mb:>7.0f} {f_s:>8.3f} {l_s:>10.3f} {p_s:>9.2f} {l_s / f_s:>7.1f} {p_s / l_s:>10.1f} {rss:>8.0f}")
        if key == "state":
            j_s = json_load(args[0], a.python_repeat)
            print(f"{'':<22} json.load of the file alone {j_s:.3f} s: {j_s / l_s:.1f}× the whole losscmp job")
    if a.only in (None, "report"):
        report_case(a)


def report_case(a):
    """The HTML report on 20 runs of 1,000,000 points: the report stage's median time (from
    --timings) and the page's size."""
    root = os.path.join(a.data, "runs20x1m")
    if not os.path.isdir(root):
        print("report, 20 runs × 1M points: not generated: python3 bench/generate.py --only runs20x1m")
        return
    runs = [os.path.join(root, d) for d in sorted(os.listdir(root))]
    out = os.path.join(a.data, "report20x1m.html")
    cmd = [a.bin] + runs + ["--out", out, "--timings", "--json", os.devnull]
    for r in runs:
        cmd += ["--set", f"{os.path.basename(r)}:world_size=1"]
    stages = []
    for _ in range(a.repeat):
        err = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
        line = [l for l in err.splitlines() if l.startswith("timings: ")][-1]
        stages.append(dict((p.split()[0], float(p.split()[1])) for p in line[len("timings: "):].split(", ")))
    med = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    mb = os.path.getsize(out) / 1e6
    print(f"report, {len(runs)} runs × 1M points: HTML {mb:.2f} MB, report stage {med['report']:.3f} s "
          f"(read {med['read']:.2f} s, align {med['align']:.2f} s, diagnose {med['diagnose']:.2f} s)")


if __name__ == "__main__":
    main()
