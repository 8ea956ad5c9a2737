#!/usr/bin/env python3
"""The same ingestion as losscmp, written the way a user would in a notebook (json + re + ast):
read a run's stdout log, trainer_state.json or directory of runs, and collect every metric point
and the training header. Prints a one-line summary so the work cannot be skipped.

usage: reference.py PATH...   (a stdout log, a trainer_state.json, or a directory of run dirs)
"""
import ast
import json
import os
import re
import sys

HEADER = re.compile(r"(Num examples|Num Epochs|Num update steps per epoch|Instantaneous batch size per device|"
                    r"Total train batch size \(w\. parallel, distributed & accumulation\)|"
                    r"Gradient Accumulation steps|Total optimization steps) = ([\d,]+)")
DICT = re.compile(r"\{'.*\}")


def read_stdout(path):
    header, points = {}, []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in f:
            for seg in line.split("\r"):
                m = HEADER.search(seg)
                if m:
                    header[m.group(1)] = int(m.group(2).replace(",", ""))
                    continue
                d = DICT.search(seg)
                if d:
                    try:
                        rec = ast.literal_eval(d.group(0))
                    except (ValueError, SyntaxError):
                        continue
                    vals = {}
                    for k, v in rec.items():
                        try:
                            vals[k] = float(v)
                        except (TypeError, ValueError):
                            pass
                    points.append(vals)
    return header, points


def read_state(path):
    with open(path) as f:
        state = json.load(f)
    points = [e for e in state.get("log_history", []) if "step" in e]
    return {"max_steps": state.get("max_steps")}, points


def read_any(path):
    if os.path.isdir(path):
        total = 0
        for run in sorted(os.listdir(path)):
            d = os.path.join(path, run)
            for name in ("trainer_state.json", "trainer_log.jsonl", "train.log"):
                p = os.path.join(d, name)
                if not os.path.exists(p):
                    continue
                if name.endswith(".jsonl"):
                    with open(p) as f:
                        total += sum(1 for line in f if json.loads(line).get("loss") is not None)
                elif name.endswith(".json"):
                    total += len(read_state(p)[1])
                else:
                    total += len(read_stdout(p)[1])
        return {}, total
    if path.endswith(".json"):
        h, pts = read_state(path)
    else:
        h, pts = read_stdout(path)
    return h, len(pts)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        h, n = read_any(p)
        print(f"{p}: {n} records, header {h}")
