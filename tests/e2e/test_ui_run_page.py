"""Web UI, run page (`/runs/RUN_ID`): overview, params, metrics with sparklines, tags, datasets,
logged models, and the artifact browser with its previews (text, JSON, YAML, CSV, image)."""

from __future__ import annotations

import json

from ui_helpers import (
    ARTIFACT_FILES,
    CSV_HEADER,
    CSV_ROWS,
    JSON_ARTIFACT,
    MLMODEL_ARTIFACT,
    PNG_SIZE,
    TEXT_ARTIFACT,
    YAML_ARTIFACT,
    UiBrowser,
    close_shown,
    durations_in,
    numbers_in,
    ui_sqlite_only,
    utc_minute,
)

pytestmark = ui_sqlite_only


def artifact_paths(b: UiBrowser) -> set[str]:
    return {a.get_attribute("data-path") for a in b.css_all("#artifacts ul#artifact-list a[data-path]")}


def preview_text(b: UiBrowser) -> str:
    pre = b.wait_css("#artifact-preview pre")
    b.screenshot("run-preview", focus=pre)
    return b.js("return arguments[0].textContent;", pre)


def test_run_overview_params_metrics_tags(browser, ui_data):
    b = browser
    rec = ui_data.run("ui-run-03")
    b.open(f"/runs/{rec.run_id}", "run")
    overview = b.text(b.wait_css("#run-overview"))
    assert rec.name in overview
    assert "FINISHED" in overview.upper()
    day, minute = utc_minute(rec.start_time)
    assert day in overview and minute in overview, f"start {day} {minute} UTC not in {overview!r}"
    seconds = (rec.end_time - rec.start_time) / 1000  # 81 s
    shown = durations_in(overview)
    assert any(abs(x - seconds) <= 1 for x in shown), f"the duration ({seconds} s) is not in {overview!r}"

    params = {tr.get_attribute("data-param-key"): tr for tr in b.css_all("table#run-params tr[data-param-key]")}
    assert set(params) == set(rec.params), f"params shown: {sorted(params)}"
    for key, tr in params.items():
        cells = [b.text(td) for td in b.css_all("td", tr)]
        assert rec.params[key] in cells, f"param {key}={rec.params[key]!r}, row cells {cells}"

    metrics = {tr.get_attribute("data-metric-key"): tr for tr in b.css_all("table#run-metrics tr[data-metric-key]")}
    assert set(metrics) == {"loss", "acc"}, f"metrics shown: {sorted(metrics)}"
    for key, tr in metrics.items():
        latest = rec.latest(key)
        nums = numbers_in(b.text(tr))
        assert any(close_shown(n, latest) for n in nums), f"{key}: latest {latest} not in row {b.text(tr)!r}"
        spark = b.css("svg.sparkline", tr)
        size = spark.size
        assert size["width"] > 10 and size["height"] > 5, f"{key}: sparkline is {size}"
        assert b.css_all("path, polyline", spark), f"{key}: the sparkline draws nothing"

    tags = b.text("table#run-tags")
    assert "team" in tags and rec.tags["team"] in tags
    assert "ui.index" in tags and "3" in tags


def test_run_datasets(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.dataset_run)
    b.open(f"/runs/{rec.run_id}", "run")
    ds = b.text(b.wait_css("#run-datasets"))
    assert ui_data.dataset_name in ds, ds
    assert ui_data.dataset_digest and ui_data.dataset_digest in ds, (ui_data.dataset_digest, ds)


def test_run_logged_models(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.model_run)
    b.open(f"/runs/{rec.run_id}", "run")
    models = b.wait_css("#run-models")
    html = models.get_attribute("innerHTML")
    assert ui_data.model_id and ui_data.model_id in html, f"logged model {ui_data.model_id} not in #run-models"


def test_artifact_browser_navigates_folders_and_previews_csv(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run")
    top = {p.split("/")[0] for p in ARTIFACT_FILES}
    b.wait_for(lambda d: artifact_paths(b) >= top, f"artifact entries {sorted(top)}")
    assert artifact_paths(b) == top, artifact_paths(b)

    folder = b.css('ul#artifact-list a[data-path="data"]')
    folder.click()
    b.wait_for(lambda d: "data/table.csv" in artifact_paths(b), "data/table.csv in the artifact list")
    b.wait_page("run")
    b.css('ul#artifact-list a[data-path="data/table.csv"]').click()
    b.wait_css("#artifact-preview table.csv-preview")
    b.wait_page("run")
    table = b.css("#artifact-preview table.csv-preview")
    rows = b.js(
        "return Array.from(arguments[0].querySelectorAll('tr')).map(tr =>"
        " Array.from(tr.querySelectorAll('th, td')).map(c => c.textContent.trim()));",
        table,
    )
    b.screenshot("run-csv-preview", focus=table)
    assert rows[0] == CSV_HEADER, rows
    assert rows[1:] == CSV_ROWS, rows


def test_artifact_preview_text(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run", artifact="notes.txt")
    assert preview_text(b).strip() == TEXT_ARTIFACT.strip()


def test_artifact_preview_json(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run", artifact="config.json")
    assert json.loads(preview_text(b)) == JSON_ARTIFACT


def test_artifact_preview_yaml(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run", artifact="params.yaml")
    assert preview_text(b).strip() == YAML_ARTIFACT.strip()


def test_artifact_preview_mlmodel(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run", artifact="model/MLmodel")
    assert preview_text(b).strip() == MLMODEL_ARTIFACT.strip()


def test_artifact_preview_image_loads(browser, ui_data):
    b = browser
    rec = ui_data.run(ui_data.artifact_run)
    b.open(f"/runs/{rec.run_id}", "run", artifact="images/plot.png")
    img = b.wait_css("#artifact-preview img")
    b.wait_for(lambda d: b.js("return arguments[0].complete && arguments[0].naturalWidth > 0;", img),
               "the preview image to load")
    size = b.js("return [arguments[0].naturalWidth, arguments[0].naturalHeight];", img)
    assert tuple(size) == PNG_SIZE, f"image is {size}, the PNG logged is {PNG_SIZE}"
    b.screenshot("run-image-loaded", focus=img)
