"""Helpers for the `cairn eval` end-to-end tests: running the binary with `--json -`, and the
reference values from scikit-learn 1.9 (the test venv's pinned version)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from cairn_helpers import cairn_bin

REL = 1e-9


@dataclass
class Evaluation:
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict:
        assert self.code == 0, f"exit {self.code}: {self.stderr}"
        return json.loads(self.stdout)


def cairn_eval(path: Path | str, *args: str, timeout: float = 120) -> Evaluation:
    result = subprocess.run(
        [cairn_bin(), "eval", str(path), "--json", "-", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    return Evaluation(result.returncode, result.stdout, result.stderr)


def close(actual, expected, name: str = "") -> None:
    assert actual is not None, f"{name}: cairn gave null, scikit-learn {expected}"
    assert abs(actual - expected) <= REL * max(1.0, abs(expected)) + 1e-12, (
        f"{name}: cairn {actual!r} != scikit-learn {expected!r}"
    )


def ece(y_binary: np.ndarray, scores: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error over calibration_curve(strategy='uniform')'s bins."""
    prob_true, prob_pred = calibration_curve(y_binary, scores, n_bins=n_bins, strategy="uniform")
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(bins[1:-1], scores)
    counts = np.bincount(ids, minlength=n_bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(scores) * np.abs(prob_true - prob_pred)))


def label_metrics(y, y_pred, pos_label=None) -> dict[str, float]:
    """The label-based metrics cairn reports, from scikit-learn (zero_division default)."""
    expected = {
        "example_count": float(len(y)),
        "accuracy_score": skm.accuracy_score(y, y_pred),
        "balanced_accuracy_score": skm.balanced_accuracy_score(y, y_pred),
    }
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, y_pred, average=average)
        expected[f"precision_{average}"] = p
        expected[f"recall_{average}"] = r
        expected[f"f1_{average}"] = f
    if pos_label is not None:
        expected["precision_score"] = skm.precision_score(y, y_pred, pos_label=pos_label)
        expected["recall_score"] = skm.recall_score(y, y_pred, pos_label=pos_label)
        expected["f1_score"] = skm.f1_score(y, y_pred, pos_label=pos_label)
    else:
        expected["precision_score"] = expected["precision_weighted"]
        expected["recall_score"] = expected["recall_weighted"]
        expected["f1_score"] = expected["f1_weighted"]
    return expected


def binary_metrics(y, y_pred, p, pos_label) -> dict[str, float]:
    """Every scalar metric of a binary evaluation with the positive class' probability `p`."""
    expected = label_metrics(y, y_pred, pos_label)
    labels = np.unique(np.concatenate([y, y_pred]))
    negative = labels[labels != pos_label][0]
    tn, fp, fn, tp = skm.confusion_matrix(y, y_pred, labels=[negative, pos_label]).ravel()
    y_binary = (y == pos_label).astype(int)
    expected.update(
        true_negatives=tn, false_positives=fp, false_negatives=fn, true_positives=tp,
        roc_auc=skm.roc_auc_score(y_binary, p),
        precision_recall_auc=skm.average_precision_score(y, p, pos_label=pos_label),
        log_loss=skm.log_loss(y_binary, p),
        brier_score_loss=skm.brier_score_loss(y, p, pos_label=pos_label),
        expected_calibration_error=ece(y_binary, p),
    )
    return expected


def regression_metrics(y, y_hat) -> dict[str, float]:
    residuals = y - y_hat
    expected = {
        "example_count": float(len(y)),
        "mean_absolute_error": skm.mean_absolute_error(y, y_hat),
        "mean_squared_error": skm.mean_squared_error(y, y_hat),
        "root_mean_squared_error": skm.root_mean_squared_error(y, y_hat),
        "r2_score": skm.r2_score(y, y_hat),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(y, y_hat),
        "max_error": skm.max_error(y, y_hat),
        "sum_on_target": float(np.sum(y)),
        "mean_on_target": float(np.mean(y)),
    }
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        expected[f"residual_q{round(q * 100):02d}"] = float(np.quantile(residuals, q))
    return expected


def assert_metrics(actual: dict, expected: dict, where: str = "overall") -> None:
    missing = set(expected) - set(actual)
    assert not missing, f"{where}: cairn lacks {sorted(missing)}"
    for name, value in expected.items():
        close(actual[name], float(value), f"{where} {name}")
