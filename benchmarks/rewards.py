"""Benchmark of the rewards computation on 1,000,000 annotations.

Generates (in a temporary directory) 10,000 cases x 25 labels x 4 annotators
with labelling times, plus AI references for every (case, label), then times:

(a) ``seconds_1m``: ``compute_rewards`` on the loaded table (quality control,
    Algorithm 1, Eq. 1, agreement and time statistics; CSV loading excluded);
(b) ``pandas_seconds_1m``: the same quality control and Eq. 1 written as a
    researcher's notebook would, a pandas loop over labels with groupby and a
    row-wise apply; its rewards are checked against (a);
(b') ``pandas_vectorised_seconds_1m``: the same loop with the row-wise apply
    replaced by ``np.where`` (a tuned notebook), reported so the ratio can be
    judged against a stronger baseline too;
(c) ``cli_process_seconds_1m``: the whole ``rewards --ai ... --json`` command
    as a fresh process on the 1,000,000-row CSV (start-up and parsing included).

Prints readable lines, then one JSON object as the last line. Goals: (a) <= 2 s,
ratio >= 10, (c) <= 5 s.

Run: ``python benchmarks/rewards.py``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markit_core.rewards.csv_input import load_ai_reference, load_annotations  # noqa: E402
from markit_core.rewards.engine import compute_rewards  # noqa: E402

N_CASES, N_LABELS, N_ANNOTATORS = 10_000, 25, 4
BUDGET, THRESHOLD = 1000.0, 0.05
REPEATS = 3


def generate(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write A.csv (1M rows, with seconds) and AI.csv (250k rows)."""
    rng = np.random.default_rng(seed)
    n = N_CASES * N_LABELS * N_ANNOTATORS
    case = np.repeat(np.arange(N_CASES), N_LABELS * N_ANNOTATORS)
    label = np.tile(np.repeat(np.arange(N_LABELS), N_ANNOTATORS), N_CASES)
    ann = np.tile(np.arange(N_ANNOTATORS), N_CASES * N_LABELS)
    truth = rng.random((N_CASES, N_LABELS)) < rng.uniform(0.05, 0.4, N_LABELS)
    accuracy = np.array([0.95, 0.9, 0.85, 0.5])[ann]  # the last annotator guesses
    accuracy[(ann == 3) & (label < 5)] = 0.9  # ...except on five labels
    t = truth[case, label]
    value = np.where(rng.random(n) < accuracy, t, ~t)
    seconds = np.round(rng.gamma(4.0, 1.0, n) * (1 + label / 10), 2)  # later labels take longer
    pd.DataFrame(
        {
            "case_id": np.char.add("case", case.astype(str)),
            "label": np.char.add("finding", label.astype(str)),
            "annotator": np.char.add("reader", ann.astype(str)),
            "value": np.where(value, "true", "false"),
            "seconds": seconds,
        }
    ).to_csv(folder / "A.csv", index=False)
    ai = np.where(rng.random((N_CASES, N_LABELS)) < 0.85, truth, ~truth)
    prob = np.where(ai, rng.uniform(0.5, 1.0, ai.shape), rng.uniform(0.0, 0.5, ai.shape))
    pd.DataFrame(
        {
            "case_id": np.char.add("case", np.repeat(np.arange(N_CASES), N_LABELS).astype(str)),
            "label": np.char.add("finding", np.tile(np.arange(N_LABELS), N_CASES).astype(str)),
            "ai_probability": prob.ravel().round(4),
        }
    ).to_csv(folder / "AI.csv", index=False)
    return folder / "A.csv", folder / "AI.csv"


def pandas_load(a_csv: Path, ai_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The notebook's CSV reads (not timed, like the loading in (a))."""
    df = pd.read_csv(a_csv, dtype={"case_id": str, "label": str, "annotator": str})
    df["value"] = df["value"].astype(str).str.lower().isin(["true", "1", "yes"])
    ai = pd.read_csv(ai_csv, dtype={"case_id": str, "label": str})
    return df, ai


def pandas_rewards(
    df: pd.DataFrame, ai: pd.DataFrame, vectorised: bool = False
) -> dict[str, float]:
    """Quality control + Algorithm 1 + Eq. 1 as a straightforward notebook loop."""
    ai = ai.assign(ai=ai["ai_probability"] >= 0.5)
    df = df.merge(ai[["case_id", "label", "ai"]], on=["case_id", "label"], how="left")

    scores = {a: 0.0 for a in sorted(df["annotator"].unique())}
    mean_time, per_label = {}, {}
    for label, g in df.groupby("label"):
        kept = []
        for _annotator, ga in g.groupby("annotator"):
            both = ga.dropna(subset=["ai"])
            if len(both):
                x, y = both["value"].astype(int), both["ai"].astype(bool).astype(int)
                kappa = 0.0 if (x.nunique() == 1 and y.nunique() == 1) else cohen_kappa_score(x, y)
                if not kappa > THRESHOLD:
                    continue
            kept.append(ga)
        if not kept:
            continue
        k = pd.concat(kept)
        mean_time[label] = k["seconds"].mean()
        votes = k.groupby("case_id")["value"].agg(["sum", "count"])
        votes["answer"] = votes["sum"] > votes["count"] - votes["sum"]
        votes["M"] = np.where(votes["answer"], votes["sum"], votes["count"] - votes["sum"])
        votes["D"] = votes["M"] / votes["count"]
        task_value = votes["answer"].mean()
        k = k.join(votes[["answer", "M", "D"]], on="case_id")
        if vectorised:
            k["r"] = np.where(k["value"] == k["answer"], 1.0 / k["M"], 0.0)
        else:
            k["r"] = k.apply(
                lambda row: 1.0 / row["M"] if row["value"] == row["answer"] else 0.0, axis=1
            )
        k["term"] = 2 * (0.5 - k["D"]) * 4 * (0.25 - k["r"])
        per_label[label] = (task_value, k.groupby("annotator")["term"].sum())
    longest = max(mean_time.values())
    for label, (task_value, sums) in per_label.items():
        tbar = mean_time[label] / longest
        for annotator, s in sums.items():
            scores[annotator] += (task_value + tbar) * s
    paid = {a: max(s, 0.0) for a, s in scores.items()}
    total = sum(paid.values())
    return {a: BUDGET * p / total for a, p in paid.items()}


def cli_command(a_csv: Path, ai_csv: Path) -> list[str]:
    """The CLI exactly as scripts outside the app call it."""
    return [
        sys.executable,
        "-m",
        "markit_core",
        "rewards",
        "--annotations",
        str(a_csv),
        "--ai",
        str(ai_csv),
        "--budget",
        str(BUDGET),
        "--json",
    ]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        a_csv, ai_csv = generate(Path(tmp))
        table = load_annotations(a_csv)
        ai = load_ai_reference(ai_csv, table)
        print(
            f"data: {table.n_annotations:,} annotations "
            f"({len(table.cases):,} cases x {len(table.labels)} labels x "
            f"{len(table.annotators)} annotators), AI references for every item"
        )

        core = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            result = compute_rewards(table, budget=BUDGET, ai=ai, kappa_threshold=THRESHOLD)
            core.append(time.perf_counter() - t0)
        seconds = statistics.median(core)
        print(
            f"(a) core computation (QC + Algorithm 1 + Eq. 1 + agreement + time stats): "
            f"{seconds:.3f} s (median of {REPEATS})"
        )
        print(f"    exclusions: {len(result.exclusions)} (annotator, label) pairs")

        frames = pandas_load(a_csv, ai_csv)
        t0 = time.perf_counter()
        baseline = pandas_rewards(*frames)
        pandas_seconds = time.perf_counter() - t0
        ours = dict(zip(result.annotators, result.rewards, strict=True))
        assert baseline.keys() == ours.keys()
        for a in ours:
            assert abs(baseline[a] - ours[a]) < 1e-6 * BUDGET, (a, baseline[a], ours[a])
        print(
            f"(b) pandas loop over labels (notebook style, CSV reads excluded): "
            f"{pandas_seconds:.2f} s; rewards match: "
            + ", ".join(f"{a} {ours[a]:.2f}" for a in ours)
        )
        ratio = pandas_seconds / seconds
        print(f"    ratio: {ratio:.1f}x")
        t0 = time.perf_counter()
        tuned = pandas_rewards(*frames, vectorised=True)
        tuned_seconds = time.perf_counter() - t0
        assert all(abs(tuned[a] - ours[a]) < 1e-6 * BUDGET for a in ours)
        print(
            "(b') the same loop with np.where instead of the row-wise apply: "
            f"{tuned_seconds:.2f} s "
            f"-> ratio {tuned_seconds / seconds:.1f}x"
        )

        cmd = cli_command(a_csv, ai_csv)
        runs = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            runs.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
        cli_out = json.loads(proc.stdout)
        assert all(abs(cli_out["rewards"][a] - ours[a]) < 1e-9 * BUDGET for a in ours)
        cli_seconds = statistics.median(runs)
        print(
            f"(c) whole CLI process ({' '.join(cmd[1:3])} ...): {cli_seconds:.2f} s "
            f"(median of {REPEATS})"
        )
        goals = seconds <= 2.0 and ratio >= 10.0 and cli_seconds <= 5.0
        print(f"goals (core <= 2 s, >= 10x pandas, CLI <= 5 s): {'met' if goals else 'NOT met'}")
    print(
        json.dumps(
            {
                "seconds_1m": round(seconds, 4),
                "pandas_seconds_1m": round(pandas_seconds, 3),
                "ratio": round(ratio, 1),
                "pandas_vectorised_seconds_1m": round(tuned_seconds, 3),
                "ratio_vs_vectorised": round(tuned_seconds / seconds, 1),
                "cli_process_seconds_1m": round(cli_seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
