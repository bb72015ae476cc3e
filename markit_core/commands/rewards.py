"""``markit rewards``: split a budget between annotators from CSV files.

::

    python -m markit_core rewards --annotations A.csv [--ai AI.csv]
        [--label-times T.csv] [--budget 1000] [--kappa-threshold 0.05]
        [--truth majority|dawid-skene] [--adjudication ADJ.csv] [--compare-rules]
        [--bootstrap 1000] [--seed 0] [--trust-level 0.4] [--min-positives 10]
        [--trusted-ai-only] [--json]

Works on CSV files only (no database). Exit codes: 0 success; 2 malformed
input or bad option (one line on stderr naming file, line and problem, as
argparse does for its own errors); 1 input that is well formed but cannot be
rewarded (e.g. no annotator has a positive score).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from markit_core.errors import MarkitError, ValidationError
from markit_core.rewards.analysis import analyse_rewards, format_analysis
from markit_core.rewards.csv_input import (
    load_adjudication,
    load_ai_reference,
    load_annotations,
    load_label_times,
)
from markit_core.rewards.diagnostics import QcSettings
from markit_core.rewards.report import format_table

__all__ = ["main", "register", "run"]

PROG = "markit rewards"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``rewards`` subcommand to a ``markit`` argument parser."""
    parser = subparsers.add_parser(
        "rewards",
        help="split a budget between annotators (AI quality control, Algorithm 1, Eq. 1)",
        description=(
            "Compute each annotator's reward from binary annotations, as in the MarkIt "
            "paper: pairs whose Cohen's kappa vs the AI is not above the threshold are "
            "dropped, then Algorithm 1 and Eq. 1 split the budget. Reads CSV files only."
        ),
    )
    parser.add_argument(
        "--annotations",
        required=True,
        metavar="A.csv",
        help="case_id,label,annotator,value (+ optional confidence, seconds)",
    )
    parser.add_argument(
        "--ai",
        metavar="AI.csv",
        help="case_id,label and ai_probability (positive when >= 0.5) or ai_value",
    )
    parser.add_argument(
        "--label-times",
        metavar="T.csv",
        help="label,mean_seconds (default: mean of the seconds column, else 0)",
    )
    parser.add_argument("--budget", type=float, default=1000.0, help="amount to split")
    parser.add_argument(
        "--kappa-threshold",
        type=float,
        default=0.05,
        help="exclude an (annotator, label) whose kappa vs AI is not above this",
    )
    parser.add_argument(
        "--truth",
        choices=("majority", "dawid-skene"),
        default="majority",
        help="pseudo answer: majority vote (paper) or Dawid-Skene posterior >= 0.5",
    )
    _register_analysis(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _register_analysis(parser: argparse.ArgumentParser) -> None:
    """Options of the diagnostics, bootstrap and rule comparison (issue 14)."""
    parser.add_argument(
        "--adjudication",
        metavar="ADJ.csv",
        help="case_id,label,value: reviewers' final answers (for --compare-rules)",
    )
    parser.add_argument(
        "--compare-rules",
        action="store_true",
        help="also compute the run under majority, Dawid-Skene and adjudication where available",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples over cases for the reward and rank intervals (0 = none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--trust-level",
        type=float,
        default=0.4,
        help="warn when the AI's kappa vs the readers' consensus is below this",
    )
    parser.add_argument(
        "--min-positives",
        type=int,
        default=10,
        help="warn when a label has fewer positive items than this",
    )
    parser.add_argument(
        "--trusted-ai-only",
        action="store_true",
        help="apply quality control only on labels where the AI is trusted (default: paper's rule)",
    )


def _fail(message: object) -> None:
    text = " ".join(str(message).split())
    print(f"{PROG}: error: {text}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Load the CSV files, compute rewards, print them; return the exit code."""
    try:
        table = load_annotations(args.annotations)
        ai = load_ai_reference(args.ai, table) if args.ai else None
        times = load_label_times(args.label_times, table) if args.label_times else None
        adjudicated = load_adjudication(args.adjudication, table) if args.adjudication else None
        if args.bootstrap < 0:
            raise ValidationError("--bootstrap must be 0 or more")
        analysis = analyse_rewards(
            table,
            budget=args.budget,
            ai=ai,
            label_seconds=times,
            kappa_threshold=args.kappa_threshold,
            truth=args.truth,
            adjudicated=adjudicated,
            settings=QcSettings(args.trust_level, args.min_positives, args.trusted_ai_only),
            n_resamples=args.bootstrap,
            seed=args.seed,
            compare=args.compare_rules,
        )
    except ValidationError as e:
        _fail(e)
        return 2
    except MarkitError as e:
        _fail(e)
        return 1
    data = analysis.to_dict()
    if args.json:
        sys.stdout.write(json.dumps(data, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_table(analysis.result) + "\n" + format_analysis(data) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m markit_core.commands.rewards [rewards] ...``.

    Builds its own parser with :func:`register`, so it parses exactly what
    ``python -m markit_core rewards`` parses; the leading word ``rewards`` is
    optional here.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] != "rewards":
        args_list.insert(0, "rewards")
    parser = argparse.ArgumentParser(prog="markit")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:  # argparse: --help exits 0, errors exit 2
        return int(e.code or 0)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
