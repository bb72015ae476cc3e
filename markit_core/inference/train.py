"""Training the project CNN: the demo models and new versions from a project's annotations.

:func:`train_cnn` is the loop (fixed seed, Adam, one-cycle learning rate, CPU by
default); :class:`CnnTrainTask` wraps it as a :class:`~markit_core.inference.base.TrainTask`.
Binary and multi-label tasks use a logistic loss and report the mean validation AUC;
regression standardises its targets, uses a Huber loss and reports the MAE.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from markit_core.errors import ValidationError
from markit_core.inference.base import ModelInfo, Progress, TaskType, TrainingData, TrainResult
from markit_core.inference.cnn import ChestCNN
from markit_core.inference.metrics import mean_absolute_error, per_label_auc


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of :func:`train_cnn` (defaults are what the demo models use)."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 4e-3
    weight_decay: float = 1e-4
    threads: int = 2
    augment_shift: int = 4  # random translation in pixels


def train_cnn(
    info: ModelInfo,
    data: TrainingData,
    *,
    seed: int,
    config: TrainConfig = TrainConfig(),
    val: TrainingData | None = None,
    progress: Progress | None = None,
) -> tuple[ChestCNN, dict[str, float], list[dict[str, float]]]:
    """Train a :class:`ChestCNN` for ``info`` and return (model, final metrics, history).

    Raises
    ------
    ValidationError
        Images or targets of the wrong shape for ``info``.
    """
    _check(info, data)
    if val is not None:
        _check(info, val)
    torch.set_num_threads(max(1, config.threads))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    regression = info.task_type is TaskType.REGRESSION
    model = ChestCNN(len(info.labels))
    x = torch.as_tensor(data.images, dtype=torch.float32)
    y = torch.as_tensor(data.targets, dtype=torch.float32)
    if regression:
        model.out_mean.copy_(y.mean(0))
        model.out_std.copy_(y.std(0).clamp_min(1e-3))
    target = (y - model.out_mean) / model.out_std if regression else y
    loss_fn: nn.Module = nn.HuberLoss(delta=1.0) if regression else nn.BCEWithLogitsLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(x) / config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps)
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = _shift(x[idx], config.augment_shift, gen)
            loss = loss_fn(model(batch), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        metrics = {"loss": total / len(x)}
        if val is not None:
            metrics.update(evaluate(info, model, val))
        history.append(metrics)
        if progress is not None:
            progress(epoch, config.epochs, metrics)
    model.eval()
    return model, history[-1], history


def evaluate(info: ModelInfo, model: ChestCNN, data: TrainingData) -> dict[str, float]:
    """``val_auc`` (mean over labels) or ``val_mae`` for regression, plus per-label AUCs."""
    outputs = predict_batches(model, data.images, info.task_type is TaskType.REGRESSION)
    if info.task_type is TaskType.REGRESSION:
        return {"val_mae": mean_absolute_error(data.targets, outputs)}
    aucs = per_label_auc(data.targets, outputs)
    finite = [a for a in aucs if not math.isnan(a)]
    out = {"val_auc": float(np.mean(finite)) if finite else float("nan")}
    out.update({f"val_auc[{label}]": a for label, a in zip(info.labels, aucs, strict=True)})
    return out


def predict_batches(
    model: ChestCNN, images: np.ndarray, regression: bool, batch: int = 64
) -> np.ndarray:
    """Model outputs (probabilities, or de-standardised values) for many images."""
    model.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            z = model(torch.as_tensor(images[start : start + batch], dtype=torch.float32))
            outs.append(z * model.out_std + model.out_mean if regression else torch.sigmoid(z))
    return torch.cat(outs).numpy()


def save_weights(model: ChestCNN, path: Path) -> Path:
    """Write the state dict atomically (a half-written file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(path)
    return path


class CnnTrainTask:
    """:class:`TrainTask` for the project CNN of one model (see :func:`trainer_for`)."""

    def __init__(self, info: ModelInfo, config: TrainConfig = TrainConfig()) -> None:
        self._info = info
        self.config = config

    def info(self) -> ModelInfo:
        return self._info

    def __call__(
        self,
        data: TrainingData,
        *,
        out_dir: str,
        epochs: int,
        seed: int,
        progress: Progress | None = None,
        val: TrainingData | None = None,
    ) -> TrainResult:
        """Train for ``epochs``; write ``<out_dir>/<name>.pt``; metrics of the last epoch."""
        if epochs < 1:
            raise ValidationError(f"epochs must be at least 1, got {epochs}")
        config = TrainConfig(**{**self.config.__dict__, "epochs": int(epochs)})
        model, metrics, history = train_cnn(
            self._info, data, seed=seed, config=config, val=val, progress=progress
        )
        path = save_weights(model, Path(out_dir) / f"{self._info.name}.pt")
        return TrainResult(str(path), metrics, tuple(history))


def trainer_for(info: ModelInfo, config: TrainConfig = TrainConfig()) -> CnnTrainTask:
    """The TrainTask that makes new versions of ``info``'s model (project CNN architecture).

    Raises
    ------
    ValidationError
        For models MarkIt cannot train (torchxrayvision's DenseNet).
    """
    if info.input.size != (128, 128) or info.input.channels != 1:
        raise ValidationError(
            f"{info.name}: MarkIt trains only its own CNN (1 x 128 x 128 input), not this model"
        )
    return CnnTrainTask(info, config)


def _check(info: ModelInfo, data: TrainingData) -> None:
    want = (info.input.channels, *info.input.size)
    images, targets = np.asarray(data.images), np.asarray(data.targets)
    if images.ndim != 4 or tuple(images.shape[1:]) != want:
        raise ValidationError(f"{info.name}: images must be (N, {want}), got {images.shape}")
    if targets.shape != (len(images), len(info.labels)):
        raise ValidationError(
            f"{info.name}: targets must be ({len(images)}, {len(info.labels)}), got {targets.shape}"
        )
    if len(images) == 0:
        raise ValidationError(f"{info.name}: no training images")


def _shift(batch: torch.Tensor, pixels: int, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pixels`` (edge-replicated): cheap augmentation."""
    if pixels <= 0:
        return batch
    dx, dy = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=gen))
    padded = nn.functional.pad(batch, (pixels, pixels, pixels, pixels), mode="replicate")
    h, w = batch.shape[-2:]
    return padded[..., pixels + dy : pixels + dy + h, pixels + dx : pixels + dx + w]
