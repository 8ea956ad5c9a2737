#!/usr/bin/env python3
"""Reads a two-night `--dataset` back with DuckDB and polars, as a dashboard would (issue 16).

    pip install duckdb polars
    python3 tests/dataset_query.py [path/to/losscmp]

Writes two nights of the nightly comparison into a temporary dataset with the binary (default
target/debug/losscmp), then runs the trend query of docs/dataset.md with DuckDB
(`read_parquet(..., hive_partitioning = true)`) and the same scan with polars, and checks what
they return. Exits non-zero on any difference.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "debug" / "losscmp"

TREND = """
SELECT date, run, final_loss, effective_batch, worst_severity, findings, verdict_change
FROM read_parquet('{root}/runs/**/*.parquet', hive_partitioning = true)
WHERE NOT is_baseline
ORDER BY date, comparison, run
"""

CURVE = """
SELECT date, run, max(samples_seen) AS samples, arg_max(value, step) AS final_loss
FROM read_parquet('{root}/points/**/*.parquet', hive_partitioning = true)
WHERE metric = 'loss' AND value IS NOT NULL
GROUP BY date, run ORDER BY date, run
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "ds"
        for night, tonight in (("2026-11-30", "fixtures/lf_8proc_ga1"),
                               ("2026-12-01", "fixtures/lf_8proc_ga8")):
            subprocess.run([str(BINARY), "fixtures/lf_1gpu_ga8", tonight, "--dataset", str(ds),
                            "--dataset-date", night], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        rows = duckdb.sql(TREND.format(root=ds)).fetchall()
        print("trend (DuckDB):")
        for r in rows:
            print("  ", r)
        assert [(str(r[0]), r[1]) for r in rows] == [("2026-11-30", "lf_8proc_ga1"),
                                                     ("2026-12-01", "lf_8proc_ga8")], rows
        assert rows[0][3] == 16 and rows[1][3] == 128, rows
        assert rows[1][4] == "error" and "oversized-effective-batch:error" in rows[1][5], rows
        assert rows[1][6] == "first", rows
        curve = duckdb.sql(CURVE.format(root=ds)).fetchall()
        print("final points (DuckDB):", curve)
        assert len(curve) == 4, curve
        assert abs(dict(((str(d), r), l) for d, r, _, l in curve)[("2026-12-01", "lf_8proc_ga8")]
                   - 0.5216224193572998) < 1e-9, curve

        lazy = pl.scan_parquet(str(ds / "runs" / "**" / "*.parquet"), hive_partitioning=True)
        df = lazy.filter(~pl.col("is_baseline")).sort("date").collect()
        print("trend (polars):", df.select("date", "run", "final_loss").rows())
        assert df["run"].to_list() == ["lf_8proc_ga1", "lf_8proc_ga8"], df
        assert df["final_loss"].to_list() == [r[2] for r in rows], df
    print("dataset query: ok")


if __name__ == "__main__":
    main()
