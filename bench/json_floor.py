#!/usr/bin/env python3
"""How fast other JSON parsers read the 100 bench runs' JSON files, in-process (interpreter
start-up and file reads left out): a yardstick for losscmp's own trainer-state and jsonl readers.

    pip install pysimdjson orjson     # in a virtualenv; the script skips what is missing
    python3 bench/json_floor.py [bench/data/runs100]

simdjson (C++, SIMD structural scan; `Parser.parse` builds its DOM, numbers included) and orjson
(Rust; builds Python objects) parse each trainer_state.json whole and each trainer_log.jsonl line
by line; the losscmp line is the same files read alone (`RAYON_NUM_THREADS=1`, the read stage of
`--timings`, which also merges and resolves each run).
"""
import glob
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "data", "runs100")
    files = {
        "trainer_state.json": sorted(glob.glob(os.path.join(root, "*", "trainer_state.json"))),
        "trainer_log.jsonl": sorted(glob.glob(os.path.join(root, "*", "trainer_log.jsonl"))),
    }
    if not all(files.values()):
        sys.exit(f"no run directories under {root}: python3 bench/generate.py --only runs100")
    data = {k: [open(f, "rb").read() for f in v] for k, v in files.items()}
    parsers = {}
    try:
        import simdjson

        p = simdjson.Parser()
        parsers["simdjson"] = {
            "trainer_state.json": lambda docs: [p.parse(d) and None for d in docs],
            "trainer_log.jsonl": lambda docs: [p.parse(l) and None for d in docs for l in d.splitlines()],
        }
    except ImportError:
        print("pysimdjson not installed: skipped")
    try:
        import orjson

        parsers["orjson"] = {
            "trainer_state.json": lambda docs: [orjson.loads(d) for d in docs],
            "trainer_log.jsonl": lambda docs: [orjson.loads(l) for d in docs for l in d.splitlines()],
        }
    except ImportError:
        print("orjson not installed: skipped")
    binary = os.path.join(os.path.dirname(HERE), "target", "release", "losscmp")
    print(f"{'reader':<10} {'file':<20} {'MB':>6} {'s':>7} {'MB/s':>7}")
    for kind, docs in data.items():
        mb = sum(map(len, docs)) / 1e6
        for name, by_kind in parsers.items():
            s = median_time(lambda: by_kind[kind](docs))
            print(f"{name:<10} {kind:<20} {mb:>6.1f} {s:>7.3f} {mb / s:>7.0f}")
        if os.path.exists(binary):
            reads = []
            for _ in range(7):
                out = subprocess.run(
                    [binary, *files[kind], "--json", "/dev/null", "--timings"],
                    env={**os.environ, "RAYON_NUM_THREADS": "1"},
                    capture_output=True, text=True, check=True,
                ).stderr
                reads.append(float(re.search(r"read ([0-9.]+) s", out).group(1)))
            s = statistics.median(reads)
            print(f"{'losscmp':<10} {kind:<20} {mb:>6.1f} {s:>7.3f} {mb / s:>7.0f}")


if __name__ == "__main__":
    main()
