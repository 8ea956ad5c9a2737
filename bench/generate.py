#!/usr/bin/env python3
"""Writes the benchmark inputs from the shapes of the real fixtures (fixtures/lf_8proc_ga8):

  stdout.log          a captured HF/LLaMA-Factory stdout of about --stdout-mb MB: the real log's
                      preamble and training header, then per optimizer step three tqdm updates
                      separated by carriage returns, a transformers-5 metric dict every
                      logging_steps, an eval dict every eval_steps, and interleaved rank warnings
  stdout_dense.log    the shape many real logs have (issue 15): about --dense-mb MB, a metric dict
                      every 2 steps with transformers-5 string values, an eval block every 5,000
                      steps, otherwise as stdout.log
  trainer_state.json  an HF trainer state with --state-entries log_history entries (pretty-printed,
                      sorted keys, as the Trainer writes it)
  runs100/run_NNN/    --runs run directories, each a trainer_state.json, trainer_log.jsonl and
                      train.log of a --run-steps-step run with its own batch and learning rate
  runs20x1m/run_NN/   --html-runs run directories of --html-points logged steps each (a
                      trainer_log.jsonl and a LLaMA-Factory config.yaml), for the report's speed

--only writes one of them (stdout, stdout_dense, state, runs100, runs20x1m).

Deterministic (seeded); re-running with the same arguments writes the same bytes.
"""
import argparse
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "fixtures", "lf_8proc_ga8", "train.log")


def loss_at(step, total, rng):
    return 0.3 + 7.7 * math.exp(-6.0 * step / total) + rng.gauss(0, 0.02)


def fmt4(x):
    """transformers 5 prints metric values as strings with 4 significant digits."""
    return f"{x:.4g}"


def preamble():
    """The real log up to and including its training header, with the header's totals removed."""
    with open(REAL, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    cut = text.index("Number of trainable parameters")
    head = text[: text.rindex("\n", 0, cut) + 1]
    keep = [l for l in head.split("\n") if "Total optimization steps" not in l and "Num update steps per epoch" not in l]
    return "\n".join(keep)


def write_stdout(path, target_mb, rng, logging_steps=10, eval_steps=500):
    # Bytes per step, measured on the generated text: three bar updates, dicts, warnings.
    bytes_per_step = 194.0 + 115.0 * (1 / logging_steps - 0.1)
    total = max(1000, int(target_mb * 1e6 / bytes_per_step))
    spe = total // 3
    stamp = "2026-11-28 05:33:21,368"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(preamble())
        f.write(f"[INFO|trainer.py:1472] {stamp} >>   Num update steps per epoch = {spe:,}\n")
        f.write(f"[INFO|trainer.py:1478] {stamp} >>   Total optimization steps = {total:,}\n")
        for step in range(1, total + 1):
            pct = 100 * step // total
            bar = "█" * (pct // 10) + " " * (10 - pct // 10)
            for k in range(3):
                f.write(f"\r{pct:3d}%|{bar}| {step}/{total} [00:{k:02d}<12:34,  3.0{k}it/s]")
            if step % logging_steps == 0:
                lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
                f.write(
                    f"\n{{'loss': '{fmt4(loss_at(step, total, rng))}', 'grad_norm': '{fmt4(abs(rng.gauss(1, 0.3)))}', "
                    f"'learning_rate': '{fmt4(lr)}', 'epoch': '{fmt4(step / spe)}'}}\n"
                )
            if step % 997 == 0:
                f.write(f"\n[rank{step % 8}]:[W1128 05:33:{step % 60:02d}.000000 ProcessGroupGloo.cpp:{step % 900}] Warning: slow collective on rank {step % 8}\n")
            if step % eval_steps == 0:
                f.write(
                    f"\n[INFO|trainer.py:2668] {stamp} >> \n***** Running Evaluation *****\n"
                    f"[INFO|trainer.py:2670] {stamp} >>   Num examples = 128\n"
                    f"\x1b[A{{'eval_loss': '{fmt4(loss_at(step, total, rng) + 0.05)}', 'eval_runtime': '0.157', 'epoch': '{fmt4(step / spe)}'}}\n"
                )
    return total


def state(entries, rng, batch=16, every=1):
    total = entries * every
    history = []
    for i in range(1, entries + 1):
        step = i * every
        history.append(
            {
                "epoch": step / (total / 3),
                "grad_norm": abs(rng.gauss(1, 0.3)),
                "learning_rate": 2e-3 * 0.5 * (1 + math.cos(math.pi * step / total)),
                "loss": loss_at(step, total, rng),
                "step": step,
            }
        )
    history.append(
        {"epoch": 3.0, "step": total, "total_flos": 1.5e11, "train_loss": 1.0,
         "train_runtime": total / 10.0, "train_samples_per_second": 10.0 * batch, "train_steps_per_second": 10.0}
    )
    return {
        "best_global_step": None, "best_metric": None, "best_model_checkpoint": None, "epoch": 3.0,
        "eval_steps": 500, "global_step": total, "is_hyper_param_search": False,
        "is_local_process_zero": True, "is_world_process_zero": True, "log_history": history,
        "logging_steps": every, "max_steps": total, "num_input_tokens_seen": 0, "num_train_epochs": 3,
        "save_steps": 500, "total_flos": 1.5e11, "train_batch_size": 2, "trial_name": None, "trial_params": None,
    }


def write_many_points(root, n_runs, points):
    """Runs of `points` logged steps each, differing in gradient accumulation (so the report has
    findings to draw) and noise; trainer_log.jsonl as LLaMA-Factory writes it, without the
    timing fields."""
    for r in range(n_runs):
        d = os.path.join(root, f"run_{r:02d}")
        os.makedirs(d, exist_ok=True)
        ga = [1, 2, 4, 8][r % 4]
        rng = random.Random(1000 + r)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write(f"stage: sft\nfinetuning_type: lora\nper_device_train_batch_size: 2\n"
                    f"gradient_accumulation_steps: {ga}\nlearning_rate: 1.0e-4\nnum_train_epochs: 3.0\n"
                    f"logging_steps: 1\n")
        lines = []
        for step in range(1, points + 1):
            loss = 0.3 + 7.7 * math.exp(-6.0 * step * ga / (points * 8)) + rng.gauss(0, 0.02)
            lr = 1e-4 * 0.5 * (1 + math.cos(math.pi * step / points))
            lines.append(f'{{"current_steps": {step}, "total_steps": {points}, "loss": {loss:.4f}, '
                         f'"lr": {lr:.6e}, "epoch": {3 * step / points:.4f}}}\n')
        with open(os.path.join(d, "trainer_log.jsonl"), "w") as f:
            f.writelines(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--stdout-mb", type=float, default=1000.0)
    ap.add_argument("--state-entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--run-steps", type=int, default=4000)
    ap.add_argument("--html-runs", type=int, default=20)
    ap.add_argument("--html-points", type=int, default=1_000_000)
    ap.add_argument("--dense-mb", type=float, default=300.0)
    ap.add_argument("--only", choices=["stdout", "stdout_dense", "state", "runs100", "runs20x1m"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(42)
    if a.only in (None, "runs20x1m"):
        write_many_points(os.path.join(a.out, "runs20x1m"), a.html_runs, a.html_points)
        print(f"runs20x1m: {a.html_runs} runs of {a.html_points} points")
    if a.only in (None, "stdout_dense"):
        dense = os.path.join(a.out, "stdout_dense.log")
        steps = write_stdout(dense, a.dense_mb, random.Random(45), logging_steps=2, eval_steps=5000)
        print(f"stdout_dense.log: {steps} steps, {os.path.getsize(dense) / 1e6:.0f} MB")
    if a.only not in (None, "stdout", "state", "runs100"):
        return
    if a.only in (None, "stdout"):
        steps = write_stdout(os.path.join(a.out, "stdout.log"), a.stdout_mb, rng)
        print(f"stdout.log: {steps} steps, {os.path.getsize(os.path.join(a.out, 'stdout.log')) / 1e6:.0f} MB")
    if a.only in (None, "state"):
        with open(os.path.join(a.out, "trainer_state.json"), "w") as f:
            json.dump(state(a.state_entries, random.Random(43)), f, indent=2, sort_keys=True)
        print(f"trainer_state.json: {a.state_entries} entries, {os.path.getsize(os.path.join(a.out, 'trainer_state.json')) / 1e6:.0f} MB")
    if a.only not in (None, "runs100"):
        return
    rng = random.Random(44)
    runs = os.path.join(a.out, "runs100")
    for r in range(a.runs):
        d = os.path.join(runs, f"run_{r:03d}")
        os.makedirs(d, exist_ok=True)
        ga = [1, 2, 4, 8][r % 4]
        st = state(a.run_steps // 2, rng, batch=2 * ga, every=2)
        with open(os.path.join(d, "trainer_state.json"), "w") as f:
            json.dump(st, f, indent=2, sort_keys=True)
        with open(os.path.join(d, "trainer_log.jsonl"), "w") as f:
            for e in st["log_history"][:-1]:
                f.write(json.dumps({"current_steps": e["step"], "total_steps": a.run_steps, "loss": e["loss"],
                                    "lr": e["learning_rate"], "epoch": e["epoch"], "percentage": 100 * e["step"] / a.run_steps,
                                    "elapsed_time": "0:00:01", "remaining_time": "0:00:01"}) + "\n")
        write_stdout(os.path.join(d, "train.log"), 1.0, rng)
    print(f"runs100: {a.runs} runs")


if __name__ == "__main__":
    main()
