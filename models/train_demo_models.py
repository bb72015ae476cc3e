"""Train the four shipped demo models on synthetic chest radiographs (CPU, fixed seed).

``python models/train_demo_models.py [--train 2000] [--val 400] [--epochs 14]
[--finetune-epochs 16] [--box-weight 0.3] [--seed 0] [--cache DIR] [--skip-joint]``

Stage 1 trains one small CNN backbone jointly on all four of the paper's tasks (7 demo
findings, view AP/PA, sex, age) and splits it into self-contained models (same
backbone, each with its own output rows): these are the view, sex and age models.
Stage 2 fine-tunes a copy of that backbone on the 7 findings alone: the pathology
model; the synthetic lesion boxes keep its class activation maps (what Grad-CAM shows)
on the lesions. Weights are plain state dicts ``models/demo-<task>-1.pt`` with their SHA-256
in ``models/weights.sha256`` and a model card ``models/demo-<task>-1.md`` (+ .json)
each. Training images are drawn by the demo generator at 256 px from seeds the demo
sets never use, and go through the same preprocessing as stored cases.
``--skip-joint`` rebuilds the stage-1 model from the shipped view/sex/age/pathology
files instead of training it again (they hold its rows). About 20-25 minutes on a
busy 2-core machine (single torch thread, two drawing processes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markit_core.demo.generator import DEMO_LABELS, make_chest  # noqa: E402
from markit_core.inference import registry  # noqa: E402
from markit_core.inference.cnn import ChestCNN, load_project_cnn  # noqa: E402
from markit_core.inference.metrics import mean_absolute_error, per_label_auc  # noqa: E402
from markit_core.inference.preprocess import preprocess_array  # noqa: E402
from markit_core.inference.train import save_weights  # noqa: E402
from markit_core.inference.weights import sha256_of  # noqa: E402

TASKS = ("pathologies", "view", "sex", "age")
SLICES = {"pathologies": slice(0, 7), "view": slice(7, 8), "sex": slice(8, 9), "age": slice(9, 10)}
DRAW_SIZE = 256
PREVALENCE = 0.3
DATA_SEED_BASE = 10_000  # demo sets use seeds < 1000
BOX_WEIGHT = 0.3  # stage 2: weight of the lesion-box term (see finetune_pathologies)


def _draw(seed: int, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
    spec = registry.entry("demo-pathologies").info.input
    rng = np.random.default_rng([DATA_SEED_BASE + seed, i])
    truth = {label: bool(rng.random() < PREVALENCE) for label in DEMO_LABELS}
    pixels, boxes, subject = make_chest(truth, rng, DRAW_SIZE)
    target = [truth[label] for label in DEMO_LABELS]
    target += [subject.view == "AP", subject.sex == "F", subject.age]
    record = {"truth": truth, "boxes": boxes}
    return preprocess_array(pixels, spec), np.asarray(target, np.float32), record


def synthetic_set(
    n: int, seed: int, cache: Path | None = None, workers: int = 2
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """``n`` preprocessed images (N, 1, 128, 128), targets (N, 10) and the truth records."""
    cached = cache / f"synthetic-{seed}-{n}.npz" if cache else None
    if cached is not None and cached.is_file():
        data = np.load(cached, allow_pickle=False)
        records = json.loads(str(data["records"]))
        return data["images"], data["targets"], records
    with ProcessPoolExecutor(max_workers=workers) as pool:
        drawn = list(pool.map(_draw, [seed] * n, range(n), chunksize=32))
    images = np.stack([d[0] for d in drawn])
    targets = np.stack([d[1] for d in drawn])
    records = [d[2] for d in drawn]
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, images=images, targets=targets, records=json.dumps(records))
    return images, targets, records


def train_joint(
    x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, lr: float = 4e-3
) -> tuple[ChestCNN, float, float, list[float]]:
    """Stage 1: one 10-output CNN, logistic loss on 9 binary outputs, Huber on standardised age."""
    torch.manual_seed(seed)
    model = ChestCNN(10)
    yt = torch.as_tensor(y)
    age_mean, age_std = float(yt[:, 9].mean()), float(yt[:, 9].std())
    target = yt.clone()
    target[:, 9] = (yt[:, 9] - age_mean) / age_std
    bce, huber = nn.BCEWithLogitsLoss(), nn.HuberLoss(delta=1.0)

    def loss_fn(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return bce(out[:, :9], t[:, :9]) + huber(out[:, 9], t[:, 9])

    xt = torch.as_tensor(x)

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return loss_fn(model(_shift(xt[idx], 3, gen)), target[idx])

    losses = _fit(model, len(xt), batch_loss, epochs=epochs, seed=seed, lr=lr, batch=32)
    return model, age_mean, age_std, losses


def finetune_pathologies(
    start: ChestCNN,
    x: np.ndarray,
    y: np.ndarray,
    records: list[dict],
    *,
    epochs: int,
    seed: int,
    lr: float = 2e-3,
    box_weight: float = BOX_WEIGHT,
) -> tuple[ChestCNN, list[float]]:
    """Stage 2: the stage-1 backbone and pathology rows, trained further on the 7 findings.

    The synthetic images come with each finding's lesion box, so besides the findings'
    logistic loss the class activation map of every present finding is pushed inside
    its box (``box_weight`` x the share of its positive activation outside the box):
    without it the maps of thin findings (atelectasis, effusion) peak on the diaphragm
    just below the lesion, evidence the net may use but a reader cannot check.
    """
    model = ChestCNN(7)
    model.load_state_dict(start.state_dict())
    target = torch.as_tensor(y[:, :7])
    inside = torch.as_tensor(box_masks(records, cells=x.shape[-1] // 8))
    bce = nn.BCEWithLogitsLoss()

    def loss_fn(feats: torch.Tensor, t: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        logits = model.head(feats)
        weight = model.head[3].weight  # (7, channels): the CAM of label l is weight[l] . feats
        cams = torch.relu(torch.einsum("lc,nchw->nlhw", weight, feats))
        outside = (cams * (1.0 - box)).sum((2, 3)) / (cams.sum((2, 3)) + 1e-6)
        present = t > 0.5
        loc = outside[present].mean() if present.any() else outside.sum() * 0.0
        return bce(logits, t) + box_weight * loc

    xt = torch.as_tensor(x)

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        # a shift of <= 1 px at 128 px moves a lesion by a fraction of a 16-px cell
        return loss_fn(model.features(_shift(xt[idx], 1, gen)), target[idx], inside[idx])

    losses = _fit(model, len(xt), batch_loss, epochs=epochs, seed=seed + 1, lr=lr, batch=16)
    return model, losses


def box_masks(records: list[dict], cells: int) -> np.ndarray:
    """Per image and finding, the share of each feature-map cell inside the lesion box:
    ``(N, 7, cells, cells)`` float32 (zeros for absent findings)."""
    size = DRAW_SIZE / cells
    edges = np.arange(cells + 1) * size
    out = np.zeros((len(records), len(DEMO_LABELS), cells, cells), np.float32)
    for n, rec in enumerate(records):
        for j, label in enumerate(DEMO_LABELS):
            box = rec["boxes"].get(label) if rec["truth"][label] else None
            if not box:
                continue
            x0, y0, x1, y1 = box
            cover_x = np.clip(np.minimum(edges[1:], x1) - np.maximum(edges[:-1], x0), 0, None)
            cover_y = np.clip(np.minimum(edges[1:], y1) - np.maximum(edges[:-1], y0), 0, None)
            out[n, j] = np.outer(cover_y, cover_x) / (size * size)
    return out


def _fit(model, n: int, batch_loss, *, epochs: int, seed: int, lr: float, batch: int):
    """AdamW with a one-cycle schedule over ``n`` images; ``batch_loss(indices, generator)``
    returns the loss of one batch (the generator drives its random shift)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        order, total, start_t = torch.randperm(n, generator=gen), 0.0, time.time()
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            loss = batch_loss(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
        print(f"epoch {epoch}/{epochs}  loss {losses[-1]:.4f}  ({time.time() - start_t:.0f} s)")
    model.eval()
    return losses


def rebuild_joint(models_dir: Path) -> tuple[ChestCNN, float, float]:
    """The stage-1 model from the shipped split files (they share its backbone)."""
    joint = ChestCNN(10)
    state = {k: v.clone() for k, v in joint.state_dict().items()}
    parts = {
        task: torch.load(models_dir / f"demo-{task}-1.pt", weights_only=True) for task in TASKS
    }
    for key in state:
        if not key.startswith(("head.3.", "out_")):  # the backbone, identical in every part
            state[key] = parts["view"][key].clone()
    for name in ("head.3.weight", "head.3.bias"):
        state[name] = torch.cat([parts[task][name] for task in TASKS])
    joint.load_state_dict(state)
    age = parts["age"]
    return joint.eval(), float(age["out_mean"][0]), float(age["out_std"][0])


def split_task(joint: ChestCNN, task: str, age_mean: float, age_std: float) -> ChestCNN:
    """A standalone model for one task: the joint backbone plus that task's output rows."""
    rows = SLICES[task]
    n = rows.stop - rows.start
    model = ChestCNN(n)
    state = {k: v.clone() for k, v in joint.state_dict().items() if not k.startswith("out_")}
    state["head.3.weight"] = state["head.3.weight"][rows].clone()
    state["head.3.bias"] = state["head.3.bias"][rows].clone()
    state["out_mean"] = torch.full((n,), age_mean if task == "age" else 0.0)
    state["out_std"] = torch.full((n,), age_std if task == "age" else 1.0)
    model.load_state_dict(state)
    return model.eval()


def cam_hit_rate(task, images: np.ndarray, records: list[dict]) -> tuple[float, int]:
    """Share of positive (image, label) pairs whose Grad-CAM peak lies in the lesion box."""
    hits = total = 0
    scale = images.shape[-1] / DRAW_SIZE
    for image, rec in zip(images, records, strict=True):
        positives = [j for j, label in enumerate(DEMO_LABELS) if rec["truth"][label]]
        if not positives:
            continue
        _, cams = task.explain(image, positives)
        for j, cam in zip(positives, cams, strict=True):
            py, px = np.unravel_index(int(np.argmax(cam)), cam.shape)
            x0, y0, x1, y1 = rec["boxes"][DEMO_LABELS[j]]
            hits += x0 * scale <= px + 0.5 <= x1 * scale and y0 * scale <= py + 0.5 <= y1 * scale
            total += 1
    return hits / max(total, 1), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--finetune-epochs", type=int, default=16)
    parser.add_argument("--cache", type=Path, default=None, help="keep drawn images here")
    parser.add_argument("--skip-joint", action="store_true", help="rebuild stage 1 from files")
    parser.add_argument(
        "--stage1-dir", type=Path, default=None, help="stage-1 files for --skip-joint"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--box-weight", type=float, default=BOX_WEIGHT, help="stage-2 box term")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    x_tr, y_tr, rec_tr = synthetic_set(args.train, seed=args.seed, cache=args.cache)
    x_va, y_va, rec_va = synthetic_set(args.val, seed=args.seed + 1, cache=args.cache)
    print(f"drew {args.train} + {args.val} images in {time.time() - t0:.0f} s")
    if args.skip_joint:
        stage1 = args.stage1_dir or args.out
        joint, age_mean, age_std = rebuild_joint(stage1)
        losses = json.loads((stage1 / "demo-view-1.json").read_text())["losses"]
    else:
        joint, age_mean, age_std, losses = train_joint(
            x_tr, y_tr, epochs=args.epochs, seed=args.seed
        )
    models = {task: split_task(joint, task, age_mean, age_std) for task in TASKS}
    models["pathologies"], ft_losses = finetune_pathologies(
        models["pathologies"],
        x_tr,
        y_tr,
        rec_tr,
        epochs=args.finetune_epochs,
        seed=args.seed,
        box_weight=args.box_weight,
    )
    sums = []
    for task in TASKS:
        info = registry.entry(f"demo-{task}").info
        path = save_weights(models[task], args.out / f"{info.name}-{info.version}.pt")
        loaded = load_project_cnn(info, path)
        outputs = np.concatenate([loaded(x_va[i : i + 64]) for i in range(0, len(x_va), 64)])
        truth = y_va[:, SLICES[task]]
        metrics: dict[str, float] = {}
        if task == "age":
            metrics["val_mae_years"] = mean_absolute_error(truth, outputs)
        else:
            for label, auc in zip(info.labels, per_label_auc(truth, outputs), strict=True):
                metrics[f"val_auc[{label}]"] = auc
        if task == "pathologies":
            metrics["val_cam_peak_in_box"], metrics["val_cam_pairs"] = cam_hit_rate(
                loaded, x_va, rec_va
            )
        print(task, json.dumps({k: round(v, 4) for k, v in metrics.items()}))
        _write_card(args, info, metrics, losses, ft_losses if task == "pathologies" else [])
        sums.append(f"{sha256_of(path)}  {path.name}")
    _write_checksums(args.out / "weights.sha256", sums)
    print(f"done in {time.time() - t0:.0f} s")
    return 0


def _write_card(
    args, info, metrics: dict[str, float], losses: list[float], ft: list[float]
) -> None:
    labels = ", ".join(info.labels)
    lines = [
        f"# {info.name} version {info.version}",
        "",
        f"- Task: {info.task} ({info.task_type.value}); outputs: {labels}"
        + (f" ({info.units})" if info.units else " (probabilities)"),
        "- Architecture: MarkIt ChestCNN (markit_core/inference/cnn.py): 4 conv blocks "
        "(8-16-32-48 channels, to a 16x16 map), global average pooling, one linear layer. "
        "Stage 1 trains the backbone jointly for the four demo tasks (the view, sex and age "
        "models share it and keep their own output rows); stage 2 fine-tunes a copy on the "
        "7 findings alone for the pathology model"
        + (
            f" ({len(ft)} epochs, max lr 2e-3, batch 16, plus {args.box_weight:g} x the share "
            "of each present finding's class activation outside its lesion box, final loss "
            f"{ft[-1]:.4f})."
            if ft
            else "."
        ),
        "- Input: 1 x 128 x 128 float32 in [0, 1] (1 = dense/white), "
        "markit_core/inference/preprocess.py: Bits Stored scaling, MONOCHROME1 inverted, "
        "bilinear stretch of the whole image.",
        "- Training data: synthetic chest radiographs from markit_core/demo (drawn at 256 px), "
        f"{args.train} training images (generator seeds [{DATA_SEED_BASE + args.seed}, i]) and "
        f"{args.val} validation images (seeds [{DATA_SEED_BASE + args.seed + 1}, i]); each finding "
        f"present with probability {PREVALENCE}, sex 50/50, age uniform 20-85, AP 35 %.",
        f"- Training: AdamW, one-cycle lr 4e-3, batch 32, {args.epochs} epochs, random shift "
        f"+-3 px, seed {args.seed}, {args.threads} CPU thread(s); final training loss "
        f"{losses[-1]:.4f}.",
        "- Metrics on the validation images: "
        + ", ".join(f"{k} = {v:.3f}" for k, v in metrics.items()),
        f"- Date: {dt.date.today().isoformat()}; script: models/train_demo_models.py",
        "- Limits: synthetic data only; not for clinical use.",
        "",
    ]
    (args.out / f"{info.name}-{info.version}.md").write_text("\n".join(lines))
    card_json = {
        "model": info.key,
        "metrics": metrics,
        "seed": args.seed,
        "epochs": args.epochs,
        "finetune_epochs": len(ft),
        "box_weight": args.box_weight if ft else None,
        "losses": losses,
        "finetune_losses": ft,
    }
    (args.out / f"{info.name}-{info.version}.json").write_text(json.dumps(card_json, indent=1))


def _write_checksums(path: Path, lines: list[str]) -> None:
    keep = []
    if path.exists():
        names = {line.split()[1] for line in lines}
        keep = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and (line.startswith("#") or line.split()[-1] not in names)
        ]
    path.write_text("\n".join(keep + lines) + "\n")


def _shift(batch: torch.Tensor, pixels: int, gen: torch.Generator) -> torch.Tensor:
    dx, dy = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=gen))
    padded = nn.functional.pad(batch, (pixels,) * 4, mode="replicate")
    h, w = batch.shape[-2:]
    return padded[..., pixels + dy : pixels + dy + h, pixels + dx : pixels + dx + w]


if __name__ == "__main__":
    sys.exit(main())
