"""Web UI, metric charts (`/charts?run=A&run=B&key=loss`): one series per run x key, the hover
tooltip reads exactly what the mlflow client logged, x-axis / log scale / smoothing / zoom change
the drawing and the URL, and the URL alone restores the state (deep links)."""

from __future__ import annotations

from selenium.webdriver.support.ui import Select

from ui_helpers import UiBrowser, close_shown, numbers_in, ui_sqlite_only

pytestmark = ui_sqlite_only


def series_paths(b: UiBrowser) -> list[str]:
    return [p.get_attribute("d") or "" for p in b.css_all("#chart svg path.series")]


def wait_paths_change(b: UiBrowser, before: list[str], what: str) -> list[str]:
    b.wait_for(lambda d: series_paths(b) and series_paths(b) != before, f"the series paths to change ({what})")
    return series_paths(b)


def tooltip_at(b: UiBrowser, fraction: float) -> tuple[int, float, str]:
    """Hover at `fraction` (-0.5 .. 0.5) of the chart's width from its center; (step, value, text)."""
    svg = b.wait_css("#chart svg")
    width = svg.size["width"]
    b.hover(svg, dx=width * fraction, dy=0)
    tip = b.wait_css("#chart-tooltip", visible=True)
    b.wait_for(lambda d: tip.get_attribute("data-step") not in (None, ""), "#chart-tooltip[data-step]")
    step = tip.get_attribute("data-step")
    value = tip.get_attribute("data-value")
    assert step is not None and value is not None, "the tooltip needs data-step and data-value"
    return int(float(step)), float(value), tip.text


def test_one_series_per_run_and_key_with_legend(browser, ui_data):
    b = browser
    recs = [ui_data.run("ui-run-02"), ui_data.run("ui-run-05")]
    b.open("/charts", "charts", run=[r.run_id for r in recs], key=["loss", "acc"])
    b.wait_for(lambda d: len(series_paths(b)) == 4, "4 path.series (2 runs x 2 keys)")
    assert all(d.strip() for d in series_paths(b)), "an empty series path"
    legend = b.text(b.wait_css("#legend"))
    for rec in recs:
        assert rec.name in legend or rec.run_id in legend, f"{rec.name} not in the legend {legend!r}"
    assert "loss" in legend and "acc" in legend
    b.open("/charts", "charts", run=[recs[0].run_id], key=["loss"])
    assert len(series_paths(b)) == 1


def test_hover_shows_the_exact_logged_value(browser, ui_data):
    b = browser
    rec = ui_data.run("ui-run-02")
    b.open("/charts", "charts", run=rec.run_id, key="loss")
    steps = []
    for fraction in (-0.3, 0.0, 0.3):
        step, value, text = tooltip_at(b, fraction)
        assert 0 <= step < 50
        logged = rec.value_at("loss", step)
        assert abs(value - logged) <= 1e-9, f"tooltip at step {step}: {value!r}, logged {logged!r}"
        nums = numbers_in(text)
        assert step in [n for n in nums if n == int(n)], f"the step {step} is not in the tooltip text {text!r}"
        assert any(close_shown(n, logged) for n in nums), f"the value {logged} is not in the tooltip text {text!r}"
        steps.append(step)
    b.screenshot("charts-tooltip")
    assert steps[0] < steps[1] < steps[2], f"moving right must reach later steps: {steps}"


def test_x_axis_log_scale_and_smoothing_update_url_and_drawing(browser, ui_data):
    b = browser
    recs = [ui_data.run("ui-run-02"), ui_data.run("ui-run-05")]
    b.open("/charts", "charts", run=[r.run_id for r in recs], key="loss")
    b.wait_for(lambda d: len(series_paths(b)) == 2, "2 path.series")
    paths = series_paths(b)

    Select(b.css("select#x-axis")).select_by_value("time")
    b.wait_url(lambda q: q.get("x") == ["time"], "x=time")
    paths = wait_paths_change(b, paths, "x=time")
    b.screenshot("charts-x-time")

    b.css("input#log-scale").click()
    b.wait_url(lambda q: q.get("log") == ["1"], "log=1")
    paths = wait_paths_change(b, paths, "log=1")
    assert b.css("input#log-scale").is_selected()
    b.screenshot("charts-log")

    b.set_value("input#smoothing", "0.8")
    b.wait_url(lambda q: q.get("smooth") and abs(float(q["smooth"][0]) - 0.8) < 1e-9, "smooth=0.8")
    paths = wait_paths_change(b, paths, "smooth=0.8")
    b.screenshot("charts-smoothed")

    # the URL is a deep link: opening it again restores controls and drawing
    url = b.current_url()
    q = b.query()
    assert q.get("x") == ["time"] and q.get("log") == ["1"], q
    b.driver.get("about:blank")
    b.open(url, "charts")
    b.wait_for(lambda d: len(series_paths(b)) == 2, "2 path.series")
    assert Select(b.css("select#x-axis")).first_selected_option.get_attribute("value") == "time"
    assert b.css("input#log-scale").is_selected()
    assert abs(float(b.css("input#smoothing").get_attribute("value")) - 0.8) < 1e-9
    assert series_paths(b) == paths, "the deep link draws other paths than the page it came from"


def test_deep_link_restores_every_control(browser, ui_data):
    b = browser
    rec = ui_data.run("ui-run-04")
    b.open("/charts", "charts", run=rec.run_id, key="loss", x="relative", log="1", smooth="0.5", range="5,20")
    assert b.css("input#log-scale").get_attribute("type") == "checkbox"
    assert b.css("input#smoothing").get_attribute("type") == "range"
    assert {o.get_attribute("value") for o in Select(b.css("select#x-axis")).options} >= {"step", "time", "relative"}
    assert Select(b.css("select#x-axis")).first_selected_option.get_attribute("value") == "relative"
    assert b.css("input#log-scale").is_selected()
    assert abs(float(b.css("input#smoothing").get_attribute("value")) - 0.5) < 1e-9
    assert float(b.css("input#range-min").get_attribute("value")) == 5
    assert float(b.css("input#range-max").get_attribute("value")) == 20
    # and the defaults, without parameters
    b.open("/charts", "charts", run=rec.run_id, key="loss")
    assert Select(b.css("select#x-axis")).first_selected_option.get_attribute("value") == "step"
    assert not b.css("input#log-scale").is_selected()


def test_zoom_apply_and_reset(browser, ui_data):
    b = browser
    rec = ui_data.run("ui-run-03")
    b.open("/charts", "charts", run=rec.run_id, key="loss")
    b.wait_for(lambda d: len(series_paths(b)) == 1, "1 path.series")
    paths = series_paths(b)
    b.type_into("input#range-min", "10")
    b.type_into("input#range-max", "30")
    b.css("button#zoom-apply").click()
    q = b.wait_url(lambda q: bool(q.get("range")), "range=")
    lo, hi = (float(x) for x in q["range"][0].split(","))
    assert (lo, hi) == (10.0, 30.0), q["range"]
    b.wait_page("charts")
    paths = wait_paths_change(b, paths, "zoom 10..30")
    for fraction in (-0.35, 0.35):
        step, value, _ = tooltip_at(b, fraction)
        assert 10 <= step <= 30, f"zoomed to 10..30, the tooltip shows step {step}"
        assert abs(value - rec.value_at("loss", step)) <= 1e-9
    b.screenshot("charts-zoomed")

    b.css("button#zoom-reset").click()
    b.wait_url(lambda q: not q.get("range") or q["range"] == [""], "no range=")
    b.wait_page("charts")
    wait_paths_change(b, paths, "zoom reset")
    step, value, _ = tooltip_at(b, 0.35)
    assert step > 30, f"after the reset the right part of the chart shows step {step}"
    assert abs(value - rec.value_at("loss", step)) <= 1e-9
