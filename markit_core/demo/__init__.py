"""The demo: synthetic chest radiographs with known truth, simulated readers and
reports, and the seeding that `make run` uses on an empty database."""

from __future__ import annotations

from markit_core.demo.anatomy import (
    AGE_RANGE,
    Subject,
    draw_chest,
    draw_subject_chest,
    sample_subject,
)
from markit_core.demo.answers import (
    READERS,
    Reader,
    demo_truth,
    seed_demo_answers,
)
from markit_core.demo.dicom import (
    BITS_STORED,
    DX_FOR_PRESENTATION,
    PatientIdentity,
    age_at,
    build_dicom,
    fake_identity,
    with_subject,
)
from markit_core.demo.generator import (
    DemoImage,
    generate_demo_set,
    make_chest,
    make_chest_array,
    sample_truth,
)
from markit_core.demo.reports import (
    report_text,
    seed_demo_reports,
)
from markit_core.demo.seed import (
    DEMO_ADMIN,
    DEMO_IMAGE_SEED,
    DEMO_IMAGES,
    DEMO_PROJECT,
    DemoResult,
    seed_demo,
    seed_demo_images,
)

__all__ = [
    "DemoImage",
    "make_chest_array",
    "sample_truth",
    "generate_demo_set",
    "draw_chest",
    "draw_subject_chest",
    "Subject",
    "AGE_RANGE",
    "sample_subject",
    "make_chest",
    "age_at",
    "with_subject",
    "DX_FOR_PRESENTATION",
    "BITS_STORED",
    "PatientIdentity",
    "fake_identity",
    "build_dicom",
    "READERS",
    "Reader",
    "demo_truth",
    "seed_demo_answers",
    "report_text",
    "seed_demo_reports",
    "DEMO_PROJECT",
    "DEMO_IMAGES",
    "DEMO_IMAGE_SEED",
    "DEMO_ADMIN",
    "DemoResult",
    "seed_demo",
    "seed_demo_images",
]
