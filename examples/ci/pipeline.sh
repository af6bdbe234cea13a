#!/usr/bin/env bash
# The CI recipe: train (plain mlflow), validate the data, evaluate, gate, register and promote.
# Each cairn step exits 0 (passed), 1 (a check failed) or 2 (error), so `set -e` stops the
# pipeline at the first failed check and nothing is registered.
#
#   MLFLOW_TRACKING_URI=http://localhost:5000 examples/ci/pipeline.sh data.csv out/
#
# CAIRN (the cairn binary), PYTHON (with mlflow and scikit-learn) and MODEL (the registered model
# name) may be set; SUMMARY receives a Markdown report (e.g. $GITHUB_STEP_SUMMARY).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${1:?usage: pipeline.sh DATA.csv OUT_DIR [train.py options]}"
OUT="${2:?usage: pipeline.sh DATA.csv OUT_DIR [train.py options]}"
shift 2
CAIRN="${CAIRN:-cairn}"
PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-churn}"
SUMMARY="${SUMMARY:-$OUT/summary.md}"
mkdir -p "$OUT"

echo "::group::train"
"$PYTHON" "$HERE/train.py" --data "$DATA" --out "$OUT" "$@"
RUN_ID="$(cat "$OUT/run_id")"
echo "training run $RUN_ID"
echo "::endgroup::"

echo "::group::validate the data"
"$CAIRN" data validate --suite "$HERE/suite.yaml" "$DATA" --run-id "$RUN_ID" --markdown "$OUT/validation.md"
echo "::endgroup::"

echo "::group::evaluate"
"$CAIRN" eval "$OUT/predictions.csv" --label-col label --prediction-col prediction --proba-col proba \
    --slice-by region --run-id "$RUN_ID" --markdown "$OUT/eval.md"
echo "::endgroup::"

echo "::group::gate"
sed "s/model: churn,/model: $MODEL,/" "$HERE/gate.yaml" > "$OUT/gate.yaml"
status=0
"$CAIRN" gate check "$OUT/gate.yaml" --run-id "$RUN_ID" --format markdown --output "$OUT/gate.md" || status=$?
cat "$OUT/validation.md" "$OUT/eval.md" "$OUT/gate.md" >> "$SUMMARY"
cat "$OUT/gate.md"
echo "::endgroup::"
if [ "$status" -ne 0 ]; then
    echo "the release gate did not pass (exit $status): nothing registered" >&2
    exit "$status"
fi

echo "::group::register and promote"
VERSION="$("$CAIRN" models register "runs:/$RUN_ID/model" --name "$MODEL")"
"$CAIRN" models promote "$MODEL" "$VERSION" --alias champion
echo "::endgroup::"
echo "models:/$MODEL/$VERSION is the champion"
