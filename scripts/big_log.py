"""Measure the out-of-core reader (hiercourse.bigdata) on a big synthetic shop log: time and peak memory.

Writes a Parquet log of --rows rows (unless it exists), reads it into the course's SequenceSplit
with ``read_log_split`` and, on a smaller log (--compare-rows), also with the pandas path
(``log_split_in_memory``). Each step runs in its own process, whose peak resident memory
(``resource.getrusage(...).ru_maxrss``) is reported beside the memory of a process that only
imports the same modules. The table and its provenance go to --out (chapter 13 reads it).

    python scripts/big_log.py --rows 50000000 --dir /tmp/hiercourse_big --out hiercourse/results/scale/big_log.md
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path


def _step(step: str, path: str, rows: int, buckets: int) -> dict:
    """One measured step, in this (fresh) process."""
    import numpy as np  # noqa: F401  (the same imports in every step, the baseline included)
    import pyarrow  # noqa: F401
    import torch  # noqa: F401

    from hiercourse.bigdata import log_split_in_memory, read_log_split, write_shop_log

    tic = time.perf_counter()
    out: dict = {"step": step}
    if step == "write":
        write_shop_log(path, rows)
        out["file_mb"] = Path(path).stat().st_size / 2**20
    elif step == "out_of_core":
        split, report = read_log_split(path, buckets=buckets, spill_dir=str(Path(path).parent))
        out.update(report, users=split.n_users, items=split.n_items, interactions=int(len(split.seq)))
    elif step == "pandas":
        split = log_split_in_memory(path)
        out.update(users=split.n_users, items=split.n_items, interactions=int(len(split.seq)))
    out["seconds"] = time.perf_counter() - tic
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    return out


def _run(step: str, path: Path, rows: int, buckets: int) -> dict:
    command = [sys.executable, __file__, "--step", step, "--path", str(path), "--rows", str(rows),
               "--buckets", str(buckets)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result, flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--compare-rows", type=int, default=5_000_000, help="log size where pandas runs too (0: skip)")
    p.add_argument("--buckets", type=int, default=32)
    p.add_argument("--dir", default="/tmp/hiercourse_big", help="where the logs and spill files go")
    p.add_argument("--out", default=None, help="markdown file for the table (default: print only)")
    p.add_argument("--step", default=None, help=argparse.SUPPRESS)
    p.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:  # a child: one step, its result as JSON on the last line
        print(json.dumps(_step(args.step, args.path, args.rows, args.buckets)))
        return

    from hiercourse.device import machine_description, software_stamp

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [dict(_run("imports", folder / "none", 0, args.buckets), rows=0)]
    sizes = [args.rows] + ([args.compare_rows] if args.compare_rows else [])
    for rows in sorted(set(sizes)):
        path = folder / f"shop_{rows}.parquet"
        if path.exists():  # written before: reused
            write = {"step": "write", "seconds": None, "file_mb": path.stat().st_size / 2**20}
        else:
            write = _run("write", path, rows, args.buckets)
        results.append(dict(write, rows=rows))
        results.append(dict(_run("out_of_core", path, rows, args.buckets), rows=rows))
        if rows == args.compare_rows:
            results.append(dict(_run("pandas", path, rows, args.buckets), rows=rows))

    command = "python scripts/big_log.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# A big shop log read out of core (hiercourse.bigdata)",
        "",
        f"- command: `{command}`",
        f"- date (UTC): {software_stamp()}",
        f"- machine: {machine_description()}; load average at the end {os.getloadavg()[1]:.1f} (5 min), "
        "the machine shared with other jobs (commands run under `nice -n 19`, OMP_NUM_THREADS=1)",
        f"- wall time: {(time.perf_counter() - started) / 60:.1f} min in all",
        "- steps: `write_shop_log` (synthetic log, 2M-row chunks, 1 % duplicate rows); `read_log_split` "
        f"({args.buckets} user-range buckets spilled to disk; deduplicate, all events, 5-core, leave-one-out); "
        "`log_split_in_memory` (pandas: read_parquet, deduplicate, to_implicit, k_core, leave_one_out). "
        "Each step in a fresh process; peak = its peak resident memory (ru_maxrss), the imports alone "
        "(numpy, pyarrow, torch, hiercourse) in the first row",
        "",
        "| step | log rows | seconds | peak MB | rows after dedup | rows in split | users | items |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        seconds = "–" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        peak = f"{r['peak_mb']:,.0f}" if "peak_mb" in r else "–"
        counts = " | ".join(f"{r[key]:,}" if key in r else "–"
                            for key in ("rows_deduplicated", "interactions", "users", "items"))
        lines.append(f"| {r['step']} | {r['rows']:,} | {seconds} | {peak} | {counts} |")
    table = "\n".join(lines) + "\n\n" + "details: " + json.dumps(results) + "\n"
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
