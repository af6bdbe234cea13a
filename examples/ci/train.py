"""The training step of the CI recipe: plain `mlflow` and scikit-learn, nothing cairn-specific.

    python train.py --data data.csv --out out/

Logs params, a validation metric, the training data as a dataset input and the model; writes the
held-out predictions (label, prediction, probability, region) to out/predictions.csv for `cairn eval`
and the run id to out/run_id.
"""

import argparse
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

FEATURES = ["tenure_months", "monthly_charges", "support_tickets"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--experiment", default="churn-ci")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--shuffle-labels", action="store_true", help="train on noise (a model the gate must stop)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    df = pd.read_csv(args.data)
    train, valid = train_test_split(df, test_size=0.3, random_state=0, stratify=df["churned"])
    y_train = train["churned"].sample(frac=1, random_state=1).to_numpy() if args.shuffle_labels else train["churned"]

    mlflow.set_experiment(args.experiment)
    with mlflow.start_run() as run:
        mlflow.set_tag("owner", "ml-team")
        mlflow.log_params({"C": args.C, "features": ",".join(FEATURES)})
        mlflow.log_input(mlflow.data.from_pandas(train, source=args.data, name="churn-train"), context="training")
        model = LogisticRegression(C=args.C, max_iter=1000).fit(train[FEATURES], y_train)
        mlflow.log_metric("train_accuracy", model.score(train[FEATURES], train["churned"]))
        mlflow.sklearn.log_model(model, name="model")
        pd.DataFrame(
            {
                "label": valid["churned"],
                "prediction": model.predict(valid[FEATURES]),
                "proba": model.predict_proba(valid[FEATURES])[:, 1],
                "region": valid["region"],
            }
        ).to_csv(out / "predictions.csv", index=False)
        (out / "run_id").write_text(run.info.run_id)


if __name__ == "__main__":
    main()
