"""Web UI, runs table (`/runs?experiment=ID`) and compare page (`/compare?run=A&run=B`):
cell values, filter (and its inline error), sorting, the column picker, nested runs, paging,
selecting runs to compare, diff highlighting, scatter and parallel-coordinates plots, keyboard."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import requests
from mlflow import MlflowClient
from selenium.webdriver.common.keys import Keys

from cairn_helpers import unique
from ui_helpers import (
    UiBrowser,
    close_shown,
    list_param,
    numbers_in,
    run_cell,
    run_rows,
    shown_float,
    shown_seconds,
    ui_sqlite_only,
    utc_minute,
)

pytestmark = ui_sqlite_only

ATTRIBUTE_COLUMNS = [
    "attributes.run_name",
    "attributes.status",
    "attributes.user_id",
    "attributes.start_time",
    "attributes.duration",
    "tags.mlflow.source.name",
]


def header_columns(b: UiBrowser) -> list[str]:
    return [th.get_attribute("data-column") for th in b.css_all("table#runs-table th[data-column]")]


def open_runs(b: UiBrowser, ui_data, **params):
    b.open("/runs", "runs", experiment=params.pop("experiment", ui_data.main_experiment_id), **params)
    b.wait_css("table#runs-table")


def test_runs_table_default_columns_and_cells(browser, ui_data):
    b = browser
    open_runs(b, ui_data)
    cols = header_columns(b)
    for col in ATTRIBUTE_COLUMNS:
        assert col in cols, f"th[data-column={col}] missing; header: {cols}"
    rows = run_rows(b)
    expected = {r.run_id for r in ui_data.in_experiment(ui_data.main_experiment_id)}
    assert {r["run_id"] for r in rows} == expected
    assert len(rows) == len(expected), "a run is listed twice"
    assert not b.exists("a#next-page"), "13 runs fit the default page of 50"
    for rec in ui_data.in_experiment(ui_data.main_experiment_id):
        assert run_cell(b, rec.run_id, "attributes.run_name") == rec.name
        assert run_cell(b, rec.run_id, "attributes.status").upper() == rec.status == "FINISHED"
        assert run_cell(b, rec.run_id, "attributes.user_id") == rec.user_id
        started = run_cell(b, rec.run_id, "attributes.start_time")
        day, minute = utc_minute(rec.start_time)
        assert day in started and minute in started, f"{rec.name}: start time {started!r}, logged {day} {minute} UTC"
        duration = run_cell(b, rec.run_id, "attributes.duration")
        seconds = shown_seconds(duration)
        assert seconds is not None, f"{rec.name}: duration {duration!r} is not a duration"
        assert abs(seconds - (rec.end_time - rec.start_time) / 1000) <= 1, (
            f"{rec.name}: duration {duration!r}, logged {(rec.end_time - rec.start_time) / 1000} s"
        )
        source = run_cell(b, rec.run_id, "tags.mlflow.source.name")
        assert os.path.basename(rec.source_name) in source, (source, rec.source_name)


def test_runs_of_several_experiments(browser, ui_data):
    b = browser
    b.open("/runs", "runs", experiment=[ui_data.main_experiment_id, ui_data.other_experiment_id])
    shown = {r["run_id"] for r in run_rows(b)}
    expected = {r.run_id for r in ui_data.runs.values()}  # the deleted run is not in ui_data.runs
    assert shown == expected
    assert ui_data.deleted_run_id not in shown


def test_filter_runs_shows_matching_rows(browser, ui_data, ui_server):
    b = browser
    open_runs(b, ui_data)
    flt = "metrics.acc > 0.6 and params.optimizer = 'adam'"
    field = b.type_into("form#run-filter input[name=filter]", flt)
    b.navigate(lambda: field.send_keys(Keys.ENTER), "runs")
    assert b.query().get("filter") == [flt]
    expected = {
        r.run_id
        for r in ui_data.in_experiment(ui_data.main_experiment_id)
        if (r.latest("acc") or 0) > 0.6 and r.params.get("optimizer") == "adam"
    }
    assert {ui_data.by_id(i).name for i in expected} == {"ui-run-03", "ui-run-06"}
    # the mlflow client's answer to the same filter agrees
    client = MlflowClient(tracking_uri=ui_server.url)
    assert {r.info.run_id for r in client.search_runs([ui_data.main_experiment_id], flt)} == expected
    assert {r["run_id"] for r in run_rows(b)} == expected
    assert not b.exists("#filter-error") or not b.css("#filter-error").is_displayed()
    # the filter box keeps the filter
    assert b.css("form#run-filter input[name=filter]").get_attribute("value") == flt


def test_bad_filter_shows_inline_error(browser, ui_data):
    b = browser
    open_runs(b, ui_data)
    bad = "metrics.acc >>> 0.5 and"
    b.type_into("form#run-filter input[name=filter]", bad, submit=True)
    err = b.wait_css("#filter-error", visible=True)
    b.wait_page("runs")
    assert len(err.text.strip()) > 5, f"#filter-error has no message: {err.text!r}"
    assert b.query().get("filter") == [bad]
    r = requests.get(b.current_url(), timeout=30)
    assert r.status_code < 500, f"a bad filter answers {r.status_code}"
    assert 'data-page="runs"' in r.text or "data-page=runs" in r.text


def test_sort_by_metric_column(browser, ui_data):
    b = browser
    open_runs(b, ui_data, columns="params.lr,metrics.loss,metrics.acc")
    assert "metrics.loss" in header_columns(b)

    def top_level_losses():
        vals = []
        for row in run_rows(b):
            if row["child"]:
                continue
            v = ui_data.by_id(row["run_id"]).latest("loss")
            if v is not None:
                vals.append(v)
        return vals

    directions = []
    for _ in range(2):
        before = b.query().get("order")
        link = b.css('table#runs-table th[data-column="metrics.loss"] a.sort')
        b.navigate(link.click, "runs")
        q = b.wait_url(lambda q: q.get("order") != before and q.get("order"), "a new order=")
        col, _, direction = q["order"][0].partition(" ")
        assert col == "metrics.loss", q["order"]
        assert direction in ("ASC", "DESC"), q["order"]
        directions.append(direction)
        losses = top_level_losses()
        assert len(losses) >= 10
        assert losses == sorted(losses, reverse=direction == "DESC"), f"order {direction}: {losses}"
        # the cells show the logged (latest) values
        for row in run_rows(b):
            v = ui_data.by_id(row["run_id"]).latest("loss")
            if v is not None:
                cell = run_cell(b, row["run_id"], "metrics.loss")
                assert close_shown(shown_float(cell), v), (cell, v)
    assert set(directions) == {"ASC", "DESC"}, f"a second click must flip the order: {directions}"


def test_sort_by_run_name_from_the_url_and_the_header(browser, ui_data):
    b = browser
    open_runs(b, ui_data, order="attributes.run_name ASC")

    def top_level_names():
        return [ui_data.by_id(r["run_id"]).name for r in run_rows(b) if not r["child"]]

    names = top_level_names()
    assert names == sorted(names) and len(names) == 11, names
    link = b.css('table#runs-table th[data-column="attributes.run_name"] a.sort')
    b.navigate(link.click, "runs")
    assert b.query().get("order") == ["attributes.run_name DESC"], b.current_url()
    names = top_level_names()
    assert names == sorted(names, reverse=True), names


def test_pick_a_param_column(browser, ui_data):
    b = browser
    open_runs(b, ui_data, columns="params.lr")
    cols = header_columns(b)
    assert "params.lr" in cols and "params.depth" not in cols, cols
    assert b.css('form#columns input[name=columns][value="params.lr"]').is_selected()
    box = b.css('form#columns input[name=columns][value="params.depth"]')
    assert not box.is_selected()
    if not box.is_displayed():  # a closed <details> drop-down
        b.js("const d = arguments[0].closest('details'); if (d) d.open = true;", box)
    box.click()
    submits = [
        el
        for el in b.css_all("form#columns button[type=submit], form#columns button:not([type]), form#columns input[type=submit]")
        if el.is_displayed()
    ]
    if submits:
        submits[0].click()
    q = b.wait_url(lambda q: "params.depth" in list_param(q.get("columns", [])), "columns=…params.depth")
    b.wait_page("runs")
    b.wait_css('table#runs-table th[data-column="params.depth"]')
    for rec in ui_data.in_experiment(ui_data.main_experiment_id):
        for key in ("depth", "lr"):
            cell = run_cell(b, rec.run_id, f"params.{key}")
            if key in rec.params:
                assert cell == rec.params[key], (rec.name, key, cell)
            else:
                assert cell in ("", "-", "\u2014"), (rec.name, key, cell)
    # the contract: the URL carries the picked columns as one comma list (columns=params.lr,params.depth)
    assert len(q["columns"]) == 1 and set(q["columns"][0].split(",")) == {"params.lr", "params.depth"}, (
        f"picked columns in the URL as {q['columns']}; the contract wants one comma list: {b.current_url()}"
    )


def test_nested_runs_are_grouped_under_their_parent(browser, ui_data):
    b = browser
    open_runs(b, ui_data)
    rows = run_rows(b)
    parent = ui_data.run(ui_data.parent_name)
    children = {ui_data.run(n).run_id for n in ui_data.child_names}
    idx = [i for i, r in enumerate(rows) if r["run_id"] == parent.run_id]
    assert len(idx) == 1, f"the parent is listed {len(idx)} times"
    i = idx[0]
    assert not rows[i]["child"], "the parent row is marked as a child"
    after = rows[i + 1 : i + 1 + len(children)]
    assert {r["run_id"] for r in after} == children, f"rows after the parent: {after}"
    for r in after:
        assert r["child"] and r["parent_id"] == parent.run_id, r
    others = [r for r in rows if r["run_id"] not in children and r["run_id"] != parent.run_id]
    assert not any(r["child"] for r in others), "a top-level run is marked as a child"


def test_paging_with_max_results(browser, ui_data):
    b = browser
    flt = "tags.team = 'vision'"
    expected = {r.run_id for r in ui_data.in_experiment(ui_data.main_experiment_id) if r.tags.get("team") == "vision"}
    assert len(expected) == 5
    open_runs(b, ui_data, filter=flt, max_results=2)
    seen: list[str] = []
    sizes = []
    for _ in range(5):
        ids = [r["run_id"] for r in run_rows(b)]
        sizes.append(len(ids))
        seen.extend(ids)
        assert b.query().get("max_results") == ["2"], b.current_url()
        if not b.exists("a#next-page"):
            break
        b.navigate(b.css("a#next-page").click, "runs")
    assert sizes == [2, 2, 1], sizes
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_default_page_is_50_runs(browser, ui_server):
    b = browser
    client = MlflowClient(tracking_uri=ui_server.url)
    exp_id = client.create_experiment(unique("ui-many"))
    ids = {client.create_run(exp_id, run_name=f"many-{k:02d}").info.run_id for k in range(53)}
    b.open("/runs", "runs", experiment=exp_id)
    first = [r["run_id"] for r in run_rows(b)]
    assert len(first) == 50, f"the default page shows {len(first)} runs"
    b.navigate(b.css("a#next-page").click, "runs")
    second = [r["run_id"] for r in run_rows(b)]
    assert len(second) == 3 and not b.exists("a#next-page")
    assert set(first) | set(second) == ids and not set(first) & set(second)


def test_select_two_runs_and_compare(browser, ui_data):
    b = browser
    a, c = ui_data.run("ui-run-00"), ui_data.run("ui-run-04")
    # same depth, different lr and optimizer
    assert a.params["depth"] == c.params["depth"] and a.params["lr"] != c.params["lr"]
    open_runs(b, ui_data)
    for rec in (a, c):
        box = b.css(f'input.select-run[type=checkbox][value="{rec.run_id}"]')
        box.click()
        assert box.is_selected()
    b.navigate(b.css("button#compare-selected").click, "compare")
    assert b.path() == "/compare"
    assert sorted(b.query().get("run", [])) == sorted([a.run_id, c.run_id])
    b.wait_css("table#compare-params")

    def param_row(key):
        return b.css(f'table#compare-params tr[data-param-key="{key}"]')

    lr, depth, opt = param_row("lr"), param_row("depth"), param_row("optimizer")
    assert "diff" in lr.get_attribute("class").split(), "lr differs: the row needs class diff"
    assert "diff" in opt.get_attribute("class").split(), "optimizer differs: the row needs class diff"
    assert "diff" not in (depth.get_attribute("class") or "").split(), "depth is equal: no class diff"
    lr_cells = [b.text(td) for td in b.css_all("td", lr)]
    assert a.params["lr"] in lr_cells and c.params["lr"] in lr_cells, lr_cells
    depth_cells = [b.text(td) for td in b.css_all("td", depth)]
    assert depth_cells.count(a.params["depth"]) == 2, depth_cells
    metrics = b.text("table#compare-metrics")
    assert "loss" in metrics and "acc" in metrics
    shown = numbers_in(metrics)
    for rec in (a, c):
        for key in ("loss", "acc"):
            assert any(close_shown(n, rec.latest(key)) for n in shown), (
                f"{rec.name}'s latest {key} {rec.latest(key)} is not in table#compare-metrics: {metrics!r}"
            )


def test_compare_scatter_and_parallel_plots(browser, ui_data):
    b = browser
    recs = [ui_data.run(n) for n in ("ui-run-02", "ui-run-05", "ui-run-07")]
    b.open("/compare", "compare", run=[r.run_id for r in recs], x="params.lr", y="metrics.loss")
    points = b.css_all("#scatter svg circle.point")
    assert len(points) == 3, f"{len(points)} circle.point for 3 runs"
    lines = b.css_all("#parallel svg path.line")
    assert len(lines) == 3, f"{len(lines)} path.line for 3 runs"
    b.screenshot("compare-scatter", focus="#scatter svg")
    b.screenshot("compare-parallel", focus="#parallel svg")
    centers = b.js(
        """return arguments[0].map(c => { const r = c.getBoundingClientRect();
               return [r.left + r.width / 2, r.top + r.height / 2]; });""",
        points,
    )
    # left to right = ascending lr; higher loss = higher on screen (smaller y)
    by_x = sorted(centers)
    by_lr = sorted(recs, key=lambda r: float(r.params["lr"]))
    losses = [r.latest("loss") for r in by_lr]
    ys = [c[1] for c in by_x]
    assert sorted(range(3), key=lambda k: -ys[k]) == sorted(range(3), key=lambda k: losses[k]), (
        f"scatter y positions {ys} do not rank like the losses {losses} (x = lr)"
    )


def test_compare_page_diff_uses_logged_values(browser, ui_data):
    b = browser
    a, c = ui_data.run("ui-run-01"), ui_data.run("ui-run-04")
    b.open("/compare", "compare", run=[a.run_id, c.run_id])
    keys = {tr.get_attribute("data-param-key") for tr in b.css_all("table#compare-params tr[data-param-key]")}
    assert keys == {"lr", "depth", "optimizer"}, keys
    for key in keys:
        differs = a.params[key] != c.params[key]
        cls = (b.css(f'table#compare-params tr[data-param-key="{key}"]').get_attribute("class") or "").split()
        assert ("diff" in cls) == differs, f"{key}: {a.params[key]!r} vs {c.params[key]!r}, class {cls}"


def test_tab_reaches_the_filter_input(browser, ui_data):
    b = browser
    open_runs(b, ui_data)
    b.js("if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);")
    target = "form#run-filter input[name=filter]"
    for presses in range(1, 41):
        b.press_tab()
        if b.js("return document.activeElement && document.activeElement.matches(arguments[0]);", target):
            break
    else:
        active = b.js("return document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : null;")
        raise AssertionError(f"40 TAB presses never focused {target}; focus is on {active}")
    b.screenshot("runs-filter-focused")
    assert presses <= 40
    assert urlparse(b.current_url()).path == "/runs"
