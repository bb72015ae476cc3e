"""Semi-automatic labelling experiment (the ultrasound study of the semi-automatic-labelling
paper) on synthetic data, in batches.

Setup, as in the paper: a small manually labelled set D0 trains M0; a fixed, class-balanced
validation set V measures accuracy; the unlabelled data arrive in equal batches S1..Sn. In
each iteration the current model labels the batch; the cases whose max class likelihood is
below ``t`` go to the human (here: the true label, a perfect expert), the others keep the
model's label; the batch joins the training set and the model is retrained.

Compared, in the same run and on the same data:

- **uncertainty**: humans label the cases with max class likelihood < t (MarkIt's
  ``active-learning`` rule, :func:`markit_core.inference.strategy.max_class_likelihood`);
- **random, same budget**: as many cases per batch as uncertainty sent, chosen at random;
- **random 25 %**: the paper's baseline, a constant 25 % of each batch chosen at random.

Printed per iteration: share sent to humans and validation accuracy of each. Expected: the
human share of uncertainty sampling falls over the iterations, and it reaches at least
random sampling's accuracy with fewer human labels.

The data: ``k`` classes, each a mixture of two Gaussian blobs in ``d`` dimensions with
overlapping tails (so some cases are genuinely hard), plus 5 % label-independent outliers.
The classifier: a small scikit-learn MLP (probabilities from its softmax), seeded.

The last line printed is one JSON object: ``human_share_first``, ``human_share_last``,
``accuracy_uncertainty``, ``accuracy_random`` (the paper's random 25 %), plus the
same-budget baseline and the human-label totals.

Run: ``python benchmarks/active_learning.py [--seed S] [--threshold T] [--batches N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markit_core.inference.base import TaskType  # noqa: E402
from markit_core.inference.strategy import max_class_likelihood  # noqa: E402


def make_data(n: int, rng: np.random.Generator, k: int = 4, d: int = 12):
    """Features and labels of ``n`` synthetic cases (fixed cluster centres for a seed)."""
    centres = np.random.default_rng(12345).normal(0.0, 2.2, size=(k, 2, d))
    y = rng.integers(0, k, n)
    blob = rng.integers(0, 2, n)
    x = centres[y, blob] + rng.normal(0.0, 1.0, size=(n, d))
    outliers = rng.random(n) < 0.05
    x[outliers] = rng.normal(0.0, 3.0, size=(int(outliers.sum()), d))
    return x, y


def _model(seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=seed, alpha=1e-3)


def _fit(x: np.ndarray, y: np.ndarray, seed: int):
    model = _model(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a small net
        model.fit(x, y)
    return model


def _confidence(model, x: np.ndarray, k: int) -> np.ndarray:
    """Max class likelihood per case, the paper's criterion (MarkIt's strategy code)."""
    proba = np.zeros((len(x), k))
    proba[:, model.classes_] = model.predict_proba(x)
    # a k-class softmax is one multi-label row per case for the strategy's "max over classes"
    return proba.max(axis=1) if k > 2 else max_class_likelihood(proba[:, 1:], TaskType.BINARY)


def run_strategy(name, data, *, threshold, seed, budget=None, rate=None):
    """One semi-automatic labelling run; returns per-iteration (human share, accuracy)."""
    (x0, y0), (xv, yv), batches, k = data
    rng = np.random.default_rng(seed + 99)
    train_x, train_y = x0.copy(), y0.copy()
    model = _fit(train_x, train_y, seed)
    history = [(1.0, float((model.predict(xv) == yv).mean()), len(y0))]
    for i, (xb, yb) in enumerate(batches):
        guess = model.predict(xb)
        if name == "uncertainty":
            human = _confidence(model, xb, k) < threshold
        else:
            n_human = budget[i] if budget is not None else int(round(rate * len(yb)))
            human = np.zeros(len(yb), dtype=bool)
            human[rng.choice(len(yb), size=n_human, replace=False)] = True
        labels = np.where(human, yb, guess)  # the expert corrects the hard cases only
        train_x, train_y = np.vstack([train_x, xb]), np.concatenate([train_y, labels])
        model = _fit(train_x, train_y, seed)
        history.append(
            (float(human.mean()), float((model.predict(xv) == yv).mean()), int(human.sum()))
        )
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--initial", type=int, default=300)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    k = 4
    d0 = make_data(args.initial, rng, k)
    xv, yv = make_data(4000, rng, k)
    balanced = np.concatenate([np.flatnonzero(yv == c)[:250] for c in range(k)])  # 250 per class
    val = (xv[balanced], yv[balanced])
    batches = [make_data(args.batch_size, rng, k) for _ in range(args.batches)]
    data = (d0, val, batches, k)

    unc = run_strategy("uncertainty", data, threshold=args.threshold, seed=args.seed)
    budget = [h[2] for h in unc[1:]]
    same = run_strategy("random", data, threshold=args.threshold, seed=args.seed, budget=budget)
    r25 = run_strategy("random", data, threshold=args.threshold, seed=args.seed, rate=0.25)

    print(
        f"D0 = {args.initial} labelled cases, validation {len(val[1])} (balanced), "
        f"{args.batches} batches of {args.batch_size}, t = {args.threshold}"
    )
    print("iter | uncertainty: to humans, accuracy | random same budget: acc | random 25 %: acc")
    for i, (u, s, r) in enumerate(zip(unc, same, r25, strict=True)):
        print(f"{i:>4} | {u[0]:>6.1%} {u[1]:>8.2%} | {s[1]:>8.2%} | {r[0]:>5.0%} {r[1]:>8.2%}")
    human_unc = sum(h[2] for h in unc[1:])
    human_r25 = sum(h[2] for h in r25[1:])
    total = args.batches * args.batch_size
    print(
        f"human labels after D0: uncertainty {human_unc} ({human_unc / total:.1%}), "
        f"random 25 % {human_r25} ({human_r25 / total:.1%})"
    )
    result = {
        "human_share_first": round(unc[1][0], 4),
        "human_share_last": round(unc[-1][0], 4),
        "accuracy_uncertainty": round(unc[-1][1], 4),
        "accuracy_random": round(r25[-1][1], 4),
        "accuracy_random_same_budget": round(same[-1][1], 4),
        "accuracy_initial": round(unc[0][1], 4),
        "human_labels_uncertainty": human_unc,
        "human_labels_random": human_r25,
        "threshold": args.threshold,
        "seed": args.seed,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
