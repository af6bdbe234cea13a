"""`cairn eval`: every metric against scikit-learn 1.9.1 to 1e-9 (binary with probabilities and tied
scores, multiclass with string labels, regression, slices and their gaps, Parquet input) and the
exit-2 messages for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from eval_helpers import (
    assert_metrics, binary_metrics, cairn_eval, close, label_metrics, regression_metrics,
)


def binary_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + rng.beta(2, 3, n) * 0.65, 0.0, 1.0)
    # A third of the scores rounded to two decimals: many ties, some on the bin edges (0.1, 0.3...).
    tied = rng.random(n) < 0.33
    p[tied] = np.round(p[tied], 2)
    p[:3] = [0.0, 1.0, 0.3]
    y_pred = (p >= 0.5).astype(int)
    region = rng.choice(["north", "south", "east", "west", "centre"], n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    device = rng.choice(["ios", "web"], n)
    return pd.DataFrame({"y": y, "y_pred": y_pred, "p": p, "region": region, "device": device})


def test_binary_with_probabilities_matches_scikit_learn(tmp_path):
    df = binary_frame(20_000, 1)
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    doc = cairn_eval(path, "--label-col", "y", "--prediction-col", "y_pred", "--proba-col", "p").doc
    assert doc["task"] == "classification"
    assert doc["classes"] == ["0", "1"]
    assert doc["pos_label"] == "1"
    assert doc["calibration_bins"] == 10
    y, y_pred, p = df["y"].to_numpy(), df["y_pred"].to_numpy(), df["p"].to_numpy()
    overall = doc["overall"]
    assert_metrics(overall["metrics"], binary_metrics(y, y_pred, p, 1))
    assert overall["confusion_matrix"] == skm.confusion_matrix(y, y_pred).tolist()
    # The reliability curve is calibration_curve(strategy="uniform")'s, with the empty bins kept.
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = [b for b in overall["curves"]["reliability"] if b["count"] > 0]
    assert len(filled) == len(prob_true)
    for bin_, true_, pred_ in zip(filled, prob_true, prob_pred):
        close(bin_["fraction_positive"], true_, "prob_true")
        close(bin_["mean_predicted"], pred_, "prob_pred")
    # Per class, as precision_recall_fscore_support(average=None).
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, y_pred)
    for index, row in enumerate(overall["per_class"]):
        close(row["precision"], precision[index], "precision")
        close(row["recall"], recall[index], "recall")
        close(row["f1"], f1[index], "f1")
        assert row["support"] == support[index]
    roc = overall["curves"]["roc"][0]["points"]
    assert roc[0] == {"x": 0.0, "y": 0.0} and roc[-1] == {"x": 1.0, "y": 1.0}
    assert doc["warnings"] == []


def test_only_tied_scores(tmp_path):
    # Four distinct scores over 2,000 rows: the ROC curve has four steps, each a diagonal.
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 2000)
    p = rng.choice([0.2, 0.4, 0.6, 0.8], 2000)
    df = pd.DataFrame({"y": y, "pred": (p > 0.5).astype(int), "p": p})
    df.to_csv(tmp_path / "ties.csv", index=False)
    doc = cairn_eval(tmp_path / "ties.csv", "--label-col", "y", "--prediction-col", "pred", "--proba-col", "p").doc
    close(doc["overall"]["metrics"]["roc_auc"], skm.roc_auc_score(y, p), "roc_auc")
    close(doc["overall"]["metrics"]["precision_recall_auc"], skm.average_precision_score(y, p), "ap")


def test_string_labels_take_the_greater_label_as_positive_or_the_one_given(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    y = rng.choice(["no", "yes"], n)
    p_yes = np.clip((y == "yes") * 0.3 + rng.random(n) * 0.7, 0, 1)
    y_pred = np.where(p_yes >= 0.5, "yes", "no")
    df = pd.DataFrame({"label": y, "pred": y_pred, "p_yes": p_yes, "p_no": 1 - p_yes})
    df.to_csv(tmp_path / "s.csv", index=False)
    doc = cairn_eval(tmp_path / "s.csv", "--label-col", "label", "--prediction-col", "pred", "--proba-col", "p_yes").doc
    assert doc["pos_label"] == "yes"
    assert_metrics(doc["overall"]["metrics"], binary_metrics(y, y_pred, p_yes, "yes"))
    doc = cairn_eval(
        tmp_path / "s.csv", "--label-col", "label", "--prediction-col", "pred", "--proba-col", "p_no",
        "--pos-label", "no",
    ).doc
    assert doc["pos_label"] == "no"
    assert_metrics(doc["overall"]["metrics"], binary_metrics(y, y_pred, df["p_no"].to_numpy(), "no"))


def test_multiclass_strings_with_probabilities(tmp_path):
    rng = np.random.default_rng(11)
    n = 12_000
    classes = np.array(["ant", "bee", "cat", "dog"])
    y = rng.choice(classes, n, p=[0.4, 0.3, 0.2, 0.1])
    logits = rng.normal(size=(n, 4)) + 1.5 * (y[:, None] == classes[None, :])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba[:50] = np.round(proba[:50], 1)  # ties (these rows need not sum to one exactly)
    proba[:50] /= proba[:50].sum(axis=1, keepdims=True)
    y_pred = classes[np.argmax(proba + rng.normal(scale=0.05, size=proba.shape), axis=1)]
    # Probability columns in another order than scikit-learn's: cairn maps them by name.
    df = pd.DataFrame({"species": y, "predicted": y_pred})
    for name in ["dog", "ant", "cat", "bee"]:
        df[f"proba_{name}"] = proba[:, list(classes).index(name)]
    df.to_csv(tmp_path / "multi.csv", index=False)
    doc = cairn_eval(
        tmp_path / "multi.csv", "--label-col", "species", "--prediction-col", "predicted", "--proba-prefix", "proba_",
    ).doc
    assert doc["classes"] == list(classes)
    assert "pos_label" not in doc
    proba = df[[f"proba_{c}" for c in classes]].to_numpy()  # as read back
    expected = label_metrics(y, y_pred)
    top = proba.argmax(axis=1)
    expected.update(
        roc_auc=skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
        roc_auc_weighted=skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes),
        precision_recall_auc=skm.average_precision_score(y, proba),
        precision_recall_auc_weighted=skm.average_precision_score(y, proba, average="weighted"),
        log_loss=skm.log_loss(y, proba, labels=classes),
        brier_score_loss=skm.brier_score_loss(y, proba, labels=classes),
    )
    # Top-label calibration: the highest probability against whether its class is the true one.
    from eval_helpers import ece
    expected["expected_calibration_error"] = ece((classes[top] == y).astype(int), proba.max(axis=1))
    overall = doc["overall"]
    assert_metrics(overall["metrics"], expected)
    assert overall["confusion_matrix"] == skm.confusion_matrix(y, y_pred, labels=classes).tolist()
    per_class_auc = skm.roc_auc_score(y, proba, multi_class="ovr", average=None, labels=classes)
    for index, row in enumerate(overall["per_class"]):
        assert row["class"] == classes[index]
        close(row["roc_auc"], per_class_auc[index], f"roc_auc {row['class']}")
        close(row["average_precision"], skm.average_precision_score(y == classes[index], proba[:, index]), "ap")


def test_regression_matches_scikit_learn(tmp_path):
    rng = np.random.default_rng(5)
    n = 20_000
    y = rng.normal(50, 20, n)
    y[:10] = 0.0  # MAPE divides by eps there, as scikit-learn does
    y_hat = y + rng.normal(0, 5, n)
    df = pd.DataFrame({"price": y, "predicted": y_hat, "shop": rng.choice(["a", "b", "c"], n)})
    df.to_csv(tmp_path / "reg.csv", index=False)
    doc = cairn_eval(
        tmp_path / "reg.csv", "--label-col", "price", "--prediction-col", "predicted", "--slice-by", "shop",
    ).doc
    assert doc["task"] == "regression"  # inferred: the label column holds non-integer numbers
    assert_metrics(doc["overall"]["metrics"], regression_metrics(y, y_hat))
    column = doc["slices"][0]
    assert column["column"] == "shop"
    values = {}
    for slice_ in column["slices"]:
        mask = df["shop"].to_numpy() == slice_["value"]
        assert slice_["rows"] == mask.sum()
        expected = regression_metrics(y[mask], y_hat[mask])
        assert_metrics(slice_["metrics"], expected, f"shop={slice_['value']}")
        values[slice_["value"]] = expected
    for name, gap in column["gaps"].items():
        spread = [v[name] for v in values.values()]
        close(gap["gap"], max(spread) - min(spread), f"gap {name}")


def test_slices_have_scikit_learn_values_and_the_largest_gap(tmp_path):
    df = binary_frame(30_000, 2)
    path = tmp_path / "sliced.csv"
    df.to_csv(path, index=False)
    doc = cairn_eval(
        path, "--label-col", "y", "--prediction-col", "y_pred", "--proba-col", "p", "--slice-by", "region", "device",
    ).doc
    y, y_pred, p = df["y"].to_numpy(), df["y_pred"].to_numpy(), df["p"].to_numpy()
    assert_metrics(doc["overall"]["metrics"], binary_metrics(y, y_pred, p, 1))
    assert [c["column"] for c in doc["slices"]] == ["region", "device"]
    for column in doc["slices"]:
        name = column["column"]
        assert [s["value"] for s in column["slices"]] == sorted(df[name].unique())
        expected_by_value = {}
        for slice_ in column["slices"]:
            mask = df[name].to_numpy() == slice_["value"]
            assert slice_["rows"] == int(mask.sum())
            expected = binary_metrics(y[mask], y_pred[mask], p[mask], 1)
            assert_metrics(slice_["metrics"], expected, f"{name}={slice_['value']}")
            expected_by_value[slice_["value"]] = expected
        for metric, gap in column["gaps"].items():
            spread = {value: float(e[metric]) for value, e in expected_by_value.items()}
            close(gap["gap"], max(spread.values()) - min(spread.values()), f"{name} gap {metric}")
            assert spread[gap["max_slice"]] == max(spread.values())
            assert spread[gap["min_slice"]] == min(spread.values())


def test_parquet_input_gives_the_same_values(tmp_path):
    pytest.importorskip("pyarrow")
    df = binary_frame(10_000, 4)
    df.to_parquet(tmp_path / "preds.parquet", index=False)
    df.to_csv(tmp_path / "preds.csv", index=False)
    args = ("--label-col", "y", "--prediction-col", "y_pred", "--proba-col", "p", "--slice-by", "region")
    from_parquet = cairn_eval(tmp_path / "preds.parquet", *args).doc
    from_csv = cairn_eval(tmp_path / "preds.csv", *args).doc
    assert from_parquet["overall"]["metrics"] == from_csv["overall"]["metrics"]
    assert from_parquet["slices"] == from_csv["slices"]
    y, y_pred, p = df["y"].to_numpy(), df["y_pred"].to_numpy(), df["p"].to_numpy()
    assert_metrics(from_parquet["overall"]["metrics"], binary_metrics(y, y_pred, p, 1))


def test_reports_are_written(tmp_path):
    df = binary_frame(2000, 9)
    df.to_csv(tmp_path / "preds.csv", index=False)
    result = cairn_eval(
        tmp_path / "preds.csv", "--label-col", "y", "--prediction-col", "y_pred", "--proba-col", "p",
        "--slice-by", "region", "--html", str(tmp_path / "eval.html"), "--markdown", str(tmp_path / "eval.md"),
    )
    assert result.code == 0, result.stderr
    assert "accuracy_score" in result.stderr  # the table goes to stderr when --json takes stdout
    html = (tmp_path / "eval.html").read_text()
    for part in ["<svg", "ROC curve", "Precision-recall curve", "Reliability diagram", "Confusion matrix", "Slices by region"]:
        assert part in html, part
    assert "<script" not in html
    assert "| accuracy_score |" in (tmp_path / "eval.md").read_text()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("y,pred,p\n1,1,0.5\n", ("--label-col", "label", "--prediction-col", "pred"), '--label-col "label": no such column'),
        ("y,pred,p\n1,1,0.5\n0,0,0.1\n1,1,high\n", ("--label-col", "y", "--prediction-col", "pred", "--proba-col", "p"),
         'bad.csv:4: column "p": not a number: "high"'),
        ("y,pred,p\n1,1,0.5\n0,0,\n", ("--label-col", "y", "--prediction-col", "pred", "--proba-col", "p"),
         'bad.csv:3: column "p": empty'),
        ("y,pred,p\n1,1,1.5\n", ("--label-col", "y", "--prediction-col", "pred", "--proba-col", "p"),
         "bad.csv:2: probability 1.5 is outside [0, 1]"),
        ("y,pred,p\n1,1,0.5\n2,0,0.5\n0,0,0.1\n", ("--label-col", "y", "--prediction-col", "pred", "--proba-col", "p"),
         'bad.csv:3: a third class "0" (after "1", "2")'),
        ("y,pred,proba_a,proba_b\na,a,0.5,0.5\nc,a,0.5,0.5\n",
         ("--label-col", "y", "--prediction-col", "pred", "--proba-prefix", "proba_"),
         'bad.csv:3: class "c" has no probability column (classes: "a", "b")'),
        ("y,pred,p\n1,1,0.5\n", ("--label-col", "y", "--prediction-col", "pred", "--proba-prefix", "q_"),
         '--proba-prefix "q_": 0 columns start with it'),
        ("y,pred\n1,1\n,0\n", ("--label-col", "y", "--prediction-col", "pred"), 'bad.csv:3: column "y": empty label'),
        ("y,pred\n1.5,x\n", ("--label-col", "y", "--prediction-col", "pred", "--task", "regression"),
         'bad.csv:2: column "pred": not a number: "x"'),
        ("y,pred\n", ("--label-col", "y", "--prediction-col", "pred"), "the predictions hold no row"),
        ("y,pred\n0,1\n", ("--label-col", "y", "--prediction-col", "pred", "--pos-label", "7"), '--pos-label "7" is not a label'),
    ],
)
def test_bad_input_exits_2_with_a_plain_message(tmp_path, content, args, message):
    (tmp_path / "bad.csv").write_text(content)
    result = cairn_eval(tmp_path / "bad.csv", *args)
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "panicked" not in result.stderr
    assert result.stdout == ""


def test_help_names_both_inputs():
    import subprocess
    from cairn_helpers import cairn_bin
    out = subprocess.run([cairn_bin(), "eval", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "--model <MODEL_URI>" in out and "--prediction-col <COLUMN>" in out
    assert "--slice-by" in out
