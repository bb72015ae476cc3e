"""Names of the external models MarkIt knows (no torch import: the registry lists them)."""

from __future__ import annotations

XRV_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Consolidation",
    "Infiltration",
    "Pneumothorax",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Effusion",
    "Pneumonia",
    "Pleural_Thickening",
    "Cardiomegaly",
    "Nodule",
    "Mass",
    "Hernia",
    "Lung Lesion",
    "Fracture",
    "Lung Opacity",
    "Enlarged Cardiomediastinum",
)
_STEM = "densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt"
XRV_WEIGHTS: dict[str, str] = {  # weights name -> file name torchxrayvision publishes
    "all": f"nih-pc-chex-mimic_ch-google-openi-kaggle-{_STEM}",
    "nih": f"nih-{_STEM}",
    "pc": f"pc-{_STEM}",
    "chex": f"chex-{_STEM}",
    "rsna": f"kaggle-{_STEM}",
    "mimic_nb": f"mimic_nb-{_STEM}",
    "mimic_ch": f"mimic_ch-{_STEM}",
}
#: torchxrayvision's single-task baselines: registry name -> release file name
XRV_BASELINE_FILES: dict[str, str] = {
    "xrv-view-xinario": "xinario_chestViewSplit_resnet-50.pt",
    "xrv-sex-mira": "mira_sex_resnet-all_epoch_13-step_7125.ckpt",
    "xrv-age-riken": (
        "baseline_models_riken_xray_age_every_model_age_senet154_v2_tl_26_ft_7_fp32.pt"
    ),
}
