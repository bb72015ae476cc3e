"""``train`` and ``active-learning``: the AI-assist loop from the command line.

::

    python -m markit_core train --project P --task pathologies [--epochs N] [--seed S]
        [--truth majority|dawid-skene] [--as USER]
    python -m markit_core active-learning --project P --threshold 0.9
        [--method max-class-likelihood|entropy] [--accept] [--as USER]

Both act as a user through the same permission checks and ledger as the page. ``train``
shows a tqdm bar with the loss and validation AUC per epoch and registers the new version only
when it finished; a refusal (too few labelled cases) exits 2 with nothing registered.
"""

from __future__ import annotations

import argparse
import sys

from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.db import require_id
from markit_core.errors import NotFoundError
from markit_core.models import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a new model version from a project's annotations",
        description="Labels: adjudication, else the truth rule over human readings; a "
        "stratified held-out split fixed by --seed. Prints per-epoch loss and validation AUC.",
    )
    train.add_argument("--project", required=True, help="project name")
    train.add_argument("--task", default="pathologies", help="model task (default pathologies)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--truth", choices=("majority", "dawid-skene"), default="majority")
    add_actor_option(train)
    train.set_defaults(func=run_train)

    al = subparsers.add_parser(
        "active-learning",
        help="score unread cases with the active model; order every queue by uncertainty",
        description="Cases whose max class likelihood is below --threshold go first in every "
        "annotator's queue; with --accept the others are stored as AI labels (source AI).",
    )
    al.add_argument("--project", required=True, help="project name")
    al.add_argument("--threshold", type=float, default=0.9)
    al.add_argument(
        "--method", choices=("max-class-likelihood", "entropy"), default="max-class-likelihood"
    )
    al.add_argument("--accept", action="store_true", help="store confident cases as AI labels")
    add_actor_option(al)
    al.set_defaults(func=run_active_learning)


def _project_id(session, name: str) -> int:
    from sqlmodel import select

    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFoundError(f"project {name!r} not found")
    return require_id(project)


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from markit_core.inference.training_run import create_training, run_training

    with db_session() as (s, settings):
        user = actor(s, args)
        project_id = _project_id(s, args.project)
        run_id = create_training(
            s, user, project_id, args.task, epochs=args.epochs, seed=args.seed, truth=args.truth
        )
        bar = tqdm(total=args.epochs, desc=f"training run {run_id}", unit="epoch", file=sys.stderr)

        def progress(epoch: int, epochs: int, metrics: dict) -> None:
            bar.update(epoch - bar.n)
            bar.set_postfix({k: f"{v:.4f}" for k, v in metrics.items()})

        status = run_training(s.get_bind(), settings, run_id, progress)  # type: ignore[arg-type]
        bar.close()
    if status.status != "done":
        print(f"training run {run_id} {status.status}: {status.error}", file=sys.stderr)
        return 1
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in status.metrics.items())
    print(f"registered {status.model_key} ({metrics}); make it active on the AI-assist page")
    return 0


def run_active_learning(args: argparse.Namespace) -> int:
    from markit_core.inference.active_learning import score_unread

    with db_session() as (s, settings):
        user = actor(s, args)
        result = score_unread(
            s,
            user,
            settings,
            _project_id(s, args.project),
            threshold=args.threshold,
            method=args.method,
            accept=args.accept,
        )
    print(
        f"{result.model_key}: scored {result.scored} unread case(s); {result.to_humans} "
        f"below t={result.threshold:g} go first to humans ({result.human_share:.0%}); "
        f"{result.confident} confident"
        + (f", {result.accepted} AI label(s) stored (source AI)" if args.accept else "")
    )
    return 0
