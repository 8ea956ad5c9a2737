#!/usr/bin/env python3
"""Two (or more) builds on the same input, alternating, so that both see the same machine:
medians (and first quartiles) of wall time and of user + system time over N runs each.

    python3 bench/ab.py 7 old/losscmp target/release/losscmp -- bench/data/stdout_dense.log --json /dev/null
"""
import resource
import statistics
import subprocess
import sys
import time


def main():
    if "--" not in sys.argv or len(sys.argv) < 4:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    split = sys.argv.index("--")
    bins, args = sys.argv[2:split], sys.argv[split + 1:]
    wall = {b: [] for b in bins}
    cpu = {b: [] for b in bins}
    for _ in range(n):
        for b in bins:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([b] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall[b].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[b].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    # The median, and the first quartile: on a shared machine a minute's slowdown moves the
    # median of a few runs, seldom the quickest quarter of them.
    for b in bins:
        w, c = sorted(wall[b]), sorted(cpu[b])
        print(f"{b:40s} wall {statistics.median(w):.3f} s (p25 {w[len(w) // 4]:.3f})"
              f"  cpu {statistics.median(c):.3f} s (p25 {c[len(c) // 4]:.3f})")


if __name__ == "__main__":
    main()
