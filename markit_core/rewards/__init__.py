"""The MarkIt reward split: quality control, Algorithm 1 / Eq. 1, its input table,
CSV input, stored runs and reports, and labelling-time statistics; and what a
PI needs to defend a payout: QC diagnostics, bootstrap intervals, the rule
comparison (analysis, diagnostics, bootstrap, compare, settings)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from markit_core.rewards.analysis import (
    RewardAnalysis,
    analyse_rewards,
    format_analysis,
)
from markit_core.rewards.bootstrap import (
    BOOTSTRAP_METHOD,
    BootstrapResult,
    bootstrap_rewards,
    case_weights,
    weighted_rewards,
)
from markit_core.rewards.compare import (
    COMPARED_RULES,
    RuleOutcome,
    compare_rules,
    comparison_to_dict,
)
from markit_core.rewards.csv_columns import (
    Columns,
    StringColumn,
    read_columns,
)
from markit_core.rewards.csv_input import (
    load_adjudication,
    load_ai_reference,
    load_annotations,
    load_label_times,
    parse_bool_words,
)
from markit_core.rewards.diagnostics import (
    KAPPA_CI_METHOD,
    NO_AI_REFERENCE,
    ExclusionDiagnostics,
    LabelDiagnostics,
    QcDiagnostics,
    QcSettings,
    gated_ai,
    kappa_ci,
    kappa_se,
    qc_diagnostics,
    rewards_with_qc,
)
from markit_core.rewards.digest import answers_digest, digest_lines
from markit_core.rewards.engine import (
    TRUTH_RULES,
    NoPositiveScoresError,
    RewardResult,
    compute_rewards,
)
from markit_core.rewards.labelling_time import (
    TIME_CI_METHOD,
    GroupedTimes,
    TimeStats,
    group_time_stats,
    grouped_times,
    label_time_stats,
    pair_times,
    t_quantile,
    time_table,
)
from markit_core.rewards.qc import Exclusion, quality_control
from markit_core.rewards.report import (
    format_table,
    result_to_dict,
)
from markit_core.rewards.rounding import largest_remainder
from markit_core.rewards.run_result_parts import (
    AnnotatorInterval,
    ExclusionQc,
    LabelQc,
    RewardIntervals,
    RulePayout,
    RunQc,
    TimeTable,
    TimeTableRow,
)
from markit_core.rewards.table import (
    AnnotationTable,
    find_duplicate,
    fits_dense,
    index_of,
    sorted_order,
)
from markit_core.rewards.weighted import case_weight_blocks

if TYPE_CHECKING:
    from markit_core.rewards.run_inputs import answers_table
    from markit_core.rewards.run_result import RunResult, run_result
    from markit_core.rewards.runs import (
        RunRecord,
        RunSummary,
        get_run,
        list_runs,
        run_csv,
        run_rewards,
        time_boxes,
    )
    from markit_core.rewards.settings import get_qc_settings, update_qc_settings

# Database-backed parts load on first use: the `rewards` CLI on a CSV needs
# numpy only, and SQLModel/pandas cost seconds to import.
_LAZY = {
    "RunRecord": "runs",
    "RunSummary": "runs",
    "answers_table": "run_inputs",
    "get_run": "runs",
    "list_runs": "runs",
    "run_csv": "runs",
    "run_rewards": "runs",
    "time_boxes": "runs",
    "RunResult": "run_result",
    "run_result": "run_result",
    "get_qc_settings": "settings",
    "update_qc_settings": "settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"markit_core.rewards.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "largest_remainder",
    "AnnotationTable",
    "find_duplicate",
    "fits_dense",
    "index_of",
    "sorted_order",
    "answers_digest",
    "digest_lines",
    "GroupedTimes",
    "grouped_times",
    "label_time_stats",
    "pair_times",
    "case_weight_blocks",
    "TRUTH_RULES",
    "Exclusion",
    "NoPositiveScoresError",
    "RewardResult",
    "compute_rewards",
    "quality_control",
    "TimeStats",
    "group_time_stats",
    "t_quantile",
    "Columns",
    "StringColumn",
    "read_columns",
    "load_ai_reference",
    "load_annotations",
    "load_label_times",
    "parse_bool_words",
    "format_table",
    "result_to_dict",
    "RunRecord",
    "RunSummary",
    "answers_table",
    "get_run",
    "list_runs",
    "run_csv",
    "run_rewards",
    "time_boxes",
    "RunResult",
    "run_result",
    "AnnotatorInterval",
    "ExclusionQc",
    "LabelQc",
    "RewardIntervals",
    "RulePayout",
    "RunQc",
    "TimeTable",
    "TimeTableRow",
    "RewardAnalysis",
    "analyse_rewards",
    "format_analysis",
    "BOOTSTRAP_METHOD",
    "BootstrapResult",
    "bootstrap_rewards",
    "case_weights",
    "weighted_rewards",
    "COMPARED_RULES",
    "RuleOutcome",
    "compare_rules",
    "comparison_to_dict",
    "load_adjudication",
    "KAPPA_CI_METHOD",
    "NO_AI_REFERENCE",
    "ExclusionDiagnostics",
    "LabelDiagnostics",
    "QcDiagnostics",
    "QcSettings",
    "gated_ai",
    "kappa_ci",
    "kappa_se",
    "qc_diagnostics",
    "rewards_with_qc",
    "TIME_CI_METHOD",
    "time_table",
    "get_qc_settings",
    "update_qc_settings",
]
