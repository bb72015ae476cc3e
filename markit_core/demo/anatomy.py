"""Drawing of the synthetic chest radiograph (used by :mod:`markit_core.demo.generator`).

Coordinates are normalised (0..1 across the image); brightness is 0 = air/black,
1 = dense/white. All random draws for the anatomy and the noise happen before any
finding is drawn, and each finding draws only when it is present, so two truths
that differ in one label give images that differ only inside that label's box.

The patient (:class:`Subject`: sex, age, view) leaves learnable signs, drawn as
anatomy (before any finding, so lesion boxes are unaffected):

- view: AP magnifies the heart (x1.15 wide), projects the clavicles higher and
  more horizontal, and leaves the scapulae over the upper lateral lung fields;
- sex: breast soft-tissue shadows over the lower zones (female), a slightly wider
  thorax (male);
- age: bone density falls linearly with age (ribs and clavicles fade), and the
  aortic knob calcifies (a bright arc growing with age).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]
_BOX_THRESHOLD = 0.03
AGE_RANGE = (20, 85)  # inclusive, years


@dataclass(frozen=True)
class Subject:
    """Who is imaged, and how: the ground truth of the sex, age and view models."""

    sex: str  # "F" or "M"
    age: int  # years, within AGE_RANGE
    view: str  # "PA" or "AP"

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M") or self.view not in ("PA", "AP"):
            raise ValueError(f"subject needs sex F/M and view PA/AP, got {self}")
        if not AGE_RANGE[0] <= self.age <= AGE_RANGE[1]:
            raise ValueError(f"subject age {self.age} outside {AGE_RANGE}")


def sample_subject(rng: np.random.Generator) -> Subject:
    """Half female, ages uniform over :data:`AGE_RANGE`, about a third AP."""
    sex = "F" if rng.random() < 0.5 else "M"
    age = int(rng.integers(AGE_RANGE[0], AGE_RANGE[1] + 1))
    view = "AP" if rng.random() < 0.35 else "PA"
    return Subject(sex, age, view)


def draw_chest(
    truth: dict[str, bool],
    rng: np.random.Generator,
    rows: int,
    cols: int,
    subject: Subject | None = None,
) -> tuple[np.ndarray, dict[str, Box]]:
    """Return (brightness float32 in [0, 1], boxes of positive labels)."""
    img, boxes, _ = draw_subject_chest(truth, rng, rows, cols, subject)
    return img, boxes


def draw_subject_chest(
    truth: dict[str, bool],
    rng: np.random.Generator,
    rows: int,
    cols: int,
    subject: Subject | None = None,
) -> tuple[np.ndarray, dict[str, Box], Subject]:
    """Like :func:`draw_chest`, also returning the subject (drawn from ``rng`` if None)."""
    if subject is None:
        subject = sample_subject(rng)
    xg = ((np.arange(cols, dtype=np.float32) + 0.5) / cols)[None, :]
    yg = ((np.arange(rows, dtype=np.float32) + 0.5) / rows)[:, None]
    g = _Geometry(rng, subject)
    body = _ellipse(xg, yg, 0.5, 0.6, 0.47, 0.64, 0.03)
    mediastinum = _sigmoid((0.075 - np.abs(xg - 0.5)) / 0.01) * _sigmoid((0.62 - yg) / 0.02)
    heart = g.heart_mask(xg, yg, bool(truth["cardiomegaly"]))
    lungs = [g.lung_mask(xg, yg, s) * (1.0 - mediastinum) * (1.0 - heart) for s in (0, 1)]
    lung = np.maximum(lungs[0], lungs[1])
    below_dome = _sigmoid((yg - g.dome_line(xg)) / 0.01) * body
    vessels = _vessels(rng, rows, cols, xg, yg) * lung

    img = 0.05 + 0.40 * body + 0.10 * below_dome
    img += 0.22 * mediastinum * body + 0.10 * _sigmoid((0.035 - np.abs(xg - 0.5)) / 0.006) * body
    img -= 0.30 * lung
    img += vessels
    img += _ribs(xg, yg, g) * body
    img += _subject_signs(xg, yg, g, subject) * body
    img = np.maximum(img, 0.62 * heart + img * (1.0 - heart))
    img += 0.03 * _smooth_noise(rng, rows, cols, max(rows, cols) / 4.0)
    noise = 0.012 * rng.standard_normal((rows, cols), dtype=np.float32)

    boxes: dict[str, Box] = {}
    if truth["cardiomegaly"]:
        boxes["cardiomegaly"] = _bbox(heart > 0.02)  # the whole (enlarged) heart shadow
    finders = {
        "pleural effusion": _effusion,
        "pneumothorax": _pneumothorax,
        "pneumonia": _pneumonia,
        "interstitial lung disease": _ild,
        "pulmonary edema": _edema,
        "atelectasis": _atelectasis,
    }
    ctx = {
        "xg": xg,
        "yg": yg,
        "g": g,
        "lungs": lungs,
        "lung": lung,
        "vessels": vessels,
        "rows": rows,
        "cols": cols,
    }
    for label, draw in finders.items():
        if truth[label]:
            before = img.copy()
            img = draw(img, rng, ctx)
            boxes[label] = _bbox(np.abs(img - before) > _BOX_THRESHOLD)
    img += noise
    np.clip(img, 0.0, 1.0, out=img)
    return img.astype(np.float32, copy=False), boxes, subject


class _Geometry:
    """Per-image jittered anatomy: lungs, domes, heart."""

    def __init__(self, rng: np.random.Generator, subject: Subject | None = None) -> None:
        j = rng.normal
        wide = 1.04 if subject is not None and subject.sex == "M" else 1.0
        magnify = 1.15 if subject is not None and subject.view == "AP" else 1.0
        self.cx = (0.5 - 0.19 * wide + j(0, 0.006), 0.5 + 0.19 * wide + j(0, 0.006))
        self.cy = 0.46 + j(0, 0.01)
        self.rx = (0.158 * wide + j(0, 0.005), 0.152 * wide + j(0, 0.005))
        self.ry = 0.30 + j(0, 0.01)
        self.dome = (0.72 + j(0, 0.01), 0.75 + j(0, 0.01))  # patient right is higher
        self.heart_c = (0.535 + j(0, 0.006), 0.665 + j(0, 0.008))
        self.heart_rx = (  # normal, enlarged
            0.135 * magnify + j(0, 0.006),
            0.215 * magnify + j(0, 0.008),
        )
        self.heart_ry = 0.115 * (1.0 + (magnify - 1.0) / 2) + j(0, 0.005)
        self.bone = 1.0
        self.clavicle_shift = 0.0
        if subject is not None:
            # bone density: 1.25 at 20 years down to 0.35 at 85
            self.bone = 1.25 - 0.9 * (subject.age - AGE_RANGE[0]) / (AGE_RANGE[1] - AGE_RANGE[0])
            self.clavicle_shift = 0.04 if subject.view == "AP" else 0.0

    def dome_line(self, xg: np.ndarray) -> np.ndarray:
        left = xg < 0.5
        side0 = self.dome[0] - 0.07 * (1 - ((xg - self.cx[0]) / (self.rx[0] * 1.3)) ** 2)
        side1 = self.dome[1] - 0.07 * (1 - ((xg - self.cx[1]) / (self.rx[1] * 1.3)) ** 2)
        return np.where(left, side0, side1)

    def lung_mask(self, xg: np.ndarray, yg: np.ndarray, side: int) -> np.ndarray:
        oval = _ellipse(xg, yg, self.cx[side], self.cy + 0.05, self.rx[side], self.ry, 0.008)
        return oval * _sigmoid((self.dome_line(xg) - yg) / 0.006)

    def radius(self, xg: np.ndarray, yg: np.ndarray, side: int) -> np.ndarray:
        return np.sqrt(
            ((xg - self.cx[side]) / self.rx[side]) ** 2 + ((yg - self.cy - 0.05) / self.ry) ** 2
        )

    def heart_mask(self, xg: np.ndarray, yg: np.ndarray, enlarged: bool) -> np.ndarray:
        rx = self.heart_rx[1 if enlarged else 0]
        oval = _ellipse(xg, yg, self.heart_c[0], self.heart_c[1], rx, self.heart_ry, 0.006)
        return oval * _sigmoid((self.dome_line(xg) + 0.03 - yg) / 0.006)


# -- findings --------------------------------------------------------------------------


def _effusion(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    g, xg, yg, side = c["g"], c["xg"], c["yg"], int(rng.integers(2))
    lateral = np.clip((xg - g.cx[side]) * (1 if side else -1) / g.rx[side] * 0.5 + 0.5, 0, 1)
    depth = rng.uniform(0.10, 0.16)
    top = g.dome[side] - depth + (-0.09 * lateral**1.5)  # meniscus climbs laterally
    fluid = c["lungs"][side] * _sigmoid((yg - top) / 0.008)
    # fluid also fills the costophrenic recess just below the lung's lateral edge
    return img * (1 - fluid) + 0.6 * fluid


def _pneumothorax(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    g, xg, yg, side = c["g"], c["xg"], c["yg"], int(rng.integers(2))
    r = g.radius(xg, yg, side)
    edge = rng.uniform(0.62, 0.72)
    upper_lateral = _sigmoid((g.cy + 0.12 - yg) / 0.02) * _sigmoid(
        ((xg - g.cx[side]) * (1 if side else -1) + 0.4 * g.rx[side]) / 0.01
    )
    rim = c["lungs"][side] * _sigmoid((r - edge) / 0.01) * upper_lateral
    line = c["lungs"][side] * np.exp(-(((r - edge) / 0.012) ** 2)) * upper_lateral
    return img - rim * (c["vessels"] + 0.09) + 0.16 * line


def _pneumonia(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    g, xg, yg, side = c["g"], c["xg"], c["yg"], int(rng.integers(2))
    bx = g.cx[side] + rng.uniform(-0.35, 0.35) * g.rx[side]
    by = g.cy + rng.uniform(-0.05, 0.2)
    sigma = rng.uniform(0.05, 0.07)
    blob = np.exp(-((xg - bx) ** 2 + (yg - by) ** 2) / (2 * sigma**2))
    patch = _smooth_noise(rng, c["rows"], c["cols"], c["rows"] / 14.0)
    patchy = np.clip((blob * (1.0 + 0.5 * patch) - 0.35) / 0.35, 0, 1)
    return img + 0.32 * patchy * c["lungs"][side]


def _ild(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    yg, g = c["yg"], c["g"]
    zone = c["lung"] * _sigmoid((yg - (g.cy - 0.02)) / 0.04)
    net = _ridges(_smooth_noise(rng, c["rows"], c["cols"], c["rows"] / 90.0), 0.3)
    return img + zone * (0.14 * net + 0.04)


def _edema(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    xg, yg, g = c["xg"], c["yg"], c["g"]
    haze = np.zeros_like(img)
    for side, sign in ((0, -1), (1, 1)):
        hx = 0.5 + sign * rng.uniform(0.08, 0.1)
        hy = g.cy + rng.uniform(0.0, 0.05)
        haze += np.exp(-(((xg - hx) / 0.1) ** 2 + ((yg - hy) / 0.13) ** 2) / 2) * c["lungs"][side]
    texture = 1.0 + 0.3 * _smooth_noise(rng, c["rows"], c["cols"], c["rows"] / 20.0)
    return img + 0.30 * haze * texture


def _atelectasis(img: np.ndarray, rng: np.random.Generator, c: dict) -> np.ndarray:
    xg, yg, g, side = c["xg"], c["yg"], c["g"], int(rng.integers(2))
    bx = g.cx[side] + rng.uniform(-0.2, 0.2) * g.rx[side]
    by = g.cy + rng.uniform(0.12, 0.2)
    angle = np.deg2rad(rng.uniform(-20, 20))
    u = (xg - bx) * np.cos(angle) + (yg - by) * np.sin(angle)
    v = -(xg - bx) * np.sin(angle) + (yg - by) * np.cos(angle)
    band = np.exp(-((v / 0.016) ** 2)) * _sigmoid((0.09 - np.abs(u)) / 0.01)
    return img + 0.38 * band * c["lungs"][side]


# -- primitives ------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float32)))


def _ellipse(
    xg: np.ndarray, yg: np.ndarray, cx: float, cy: float, rx: float, ry: float, edge: float
) -> np.ndarray:
    r = np.sqrt(((xg - cx) / rx) ** 2 + ((yg - cy) / ry) ** 2)
    return _sigmoid((1.0 - r) / (edge / min(rx, ry)))


def _smooth_noise(rng: np.random.Generator, rows: int, cols: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish std noise smooth over ``cell`` pixels (bicubic upsampling)."""
    h, w = int(rows / cell) + 3, int(cols / cell) + 3
    coarse = rng.standard_normal((h, w)).astype(np.float32)
    up = Image.fromarray(coarse, mode="F").resize(
        (cols, rows), Image.Resampling.BICUBIC, box=(1, 1, w - 2, h - 2)
    )
    return np.asarray(up, dtype=np.float32)


def _ridges(noise: np.ndarray, width: float) -> np.ndarray:
    """Thin lines along the zero crossings of smooth noise: a branching net."""
    return np.exp(-((noise / width) ** 2))


def _vessels(
    rng: np.random.Generator, rows: int, cols: int, xg: np.ndarray, yg: np.ndarray
) -> np.ndarray:
    net = _ridges(_smooth_noise(rng, rows, cols, rows / 16.0), 0.2)
    near_hila = np.exp(-np.minimum(np.abs(xg - 0.4), np.abs(xg - 0.6)) / 0.15)
    return 0.11 * net * near_hila * _sigmoid((yg - 0.2) / 0.05)


def _ribs(xg: np.ndarray, yg: np.ndarray, g: _Geometry) -> np.ndarray:
    lateral = np.abs(xg - 0.5)
    out = np.zeros((yg.shape[0], xg.shape[1]), dtype=np.float32)
    curve = 0.16 * ((lateral - 0.04) / 0.35) ** 2
    within = _sigmoid((0.38 - lateral) / 0.012)
    for k in range(9):
        y0 = 0.16 + k * 0.064 * g.ry / 0.30
        out += np.exp(-(((yg - y0 - curve) / 0.010) ** 2))
    for sign in (-1, 1):  # clavicles (AP: higher and more horizontal)
        t = np.clip((xg - 0.5) * sign / 0.3, 0, 1)
        yc = 0.17 - g.clavicle_shift - (0.06 - g.clavicle_shift) * t
        out += 1.2 * np.exp(-(((yg - yc) / 0.011) ** 2)) * (t > 0.15) * (t < 0.95)
    return 0.07 * g.bone * out * within


def _subject_signs(xg: np.ndarray, yg: np.ndarray, g: _Geometry, subject: Subject) -> np.ndarray:
    """Scapulae (AP), breast shadows (female) and aortic knob calcification (age)."""
    out = np.zeros((yg.shape[0], xg.shape[1]), dtype=np.float32)
    if subject.view == "AP":  # scapulae over the upper lateral lung fields
        for side in (0, 1):
            sx = g.cx[side] + (0.55 if side else -0.55) * g.rx[side]
            out += 0.07 * g.bone * _ellipse(xg, yg, sx, 0.33, 0.075, 0.14, 0.01)
    if subject.sex == "F":  # breast shadows with a sharp lower edge
        for side in (0, 1):
            bx = g.cx[side] + (0.25 if side else -0.25) * g.rx[side]
            shadow = _ellipse(xg, yg, bx, 0.66, 0.15, 0.11, 0.02)
            out += 0.08 * shadow * _sigmoid((yg - 0.56) / 0.03)
    ageing = (subject.age - AGE_RANGE[0]) / (AGE_RANGE[1] - AGE_RANGE[0])
    r = np.sqrt(((xg - 0.56) / 0.035) ** 2 + ((yg - 0.30) / 0.03) ** 2)
    out += 0.22 * ageing * np.exp(-(((r - 1.0) / 0.18) ** 2)) * (yg < 0.31)  # knob rim
    return out


def _bbox(mask: np.ndarray) -> Box:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return (0, 0, 0, 0)
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
