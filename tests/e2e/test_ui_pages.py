"""Web UI, every page: opens (HTTP 200, HTML, the right data-page, the nav links), 404 pages for
unknown things, light/dark colour schemes, and the model registry pages."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
import requests

from ui_helpers import ui_sqlite_only

pytestmark = ui_sqlite_only


def page_list(d) -> list[tuple[str, str, dict]]:
    """(path, data-page, query params) of every page, with the seeded data."""
    a, c = d.run("ui-run-02"), d.run("ui-run-05")
    art = d.run(d.artifact_run)
    return [
        ("/", "experiments", {}),
        ("/experiments", "experiments", {}),
        ("/runs", "runs", {"experiment": d.main_experiment_id}),
        (f"/runs/{a.run_id}", "run", {}),
        (f"/runs/{art.run_id}", "run", {"artifact": "notes.txt"}),
        ("/charts", "charts", {"run": [a.run_id, c.run_id], "key": "loss"}),
        ("/compare", "compare", {"run": [a.run_id, c.run_id]}),
        ("/models", "models", {}),
        (f"/models/{d.model_name}", "model", {}),
        (f"/models/{d.model_name}/versions/{d.model_version}", "version", {}),
    ]


def test_every_page_opens_with_nav(browser, ui_data, ui_server):
    b = browser
    failures = []
    for path, page, params in page_list(ui_data):
        r = requests.get(ui_server.url + path, params=params, timeout=30)
        if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
            failures.append(f"GET {r.url}: HTTP {r.status_code}, {r.headers.get('content-type')}")
            continue
        try:
            label = "-".join(x for x in [page, path.strip("/").replace("/", "-")[:40], *params] if x)
            b.open(path, page, shot=label, **params)
            exp_nav = urlparse(b.css("#nav-experiments").get_attribute("href")).path
            models_nav = urlparse(b.css("#nav-models").get_attribute("href")).path
            assert exp_nav in ("/", "/experiments"), f"#nav-experiments -> {exp_nav}"
            assert models_nav == "/models", f"#nav-models -> {models_nav}"
        except Exception as e:  # collect every page's problem, then fail once
            failures.append(f"{path} {params}: {e}")
    assert not failures, "pages that do not open as they should:\n" + "\n".join(failures)


def test_nav_links_navigate(browser, ui_data):
    b = browser
    b.open("/runs", "runs", experiment=ui_data.main_experiment_id)
    b.navigate(b.css("#nav-models").click, "models")
    assert b.path() == "/models"
    b.navigate(b.css("#nav-experiments").click, "experiments")
    assert b.path() in ("/", "/experiments")


@pytest.mark.parametrize(
    "what",
    ["run", "experiment", "model", "model-version"],
)
def test_unknown_things_are_404_error_pages(browser, ui_data, ui_server, what):
    path, params = {
        "run": ("/runs/" + "0" * 32, {}),
        "experiment": ("/runs", {"experiment": "987654321"}),
        "model": ("/models/no-such-model-anywhere", {}),
        "model-version": (f"/models/{ui_data.model_name}/versions/99", {}),
    }[what]
    r = requests.get(ui_server.url + path, params=params, timeout=30)
    assert r.status_code == 404, f"GET {r.url}: HTTP {r.status_code}"
    assert "text/html" in r.headers.get("content-type", ""), r.headers.get("content-type")
    browser.open(path, "error", **params)


def test_dark_mode_changes_the_colours(browser, ui_data):
    b = browser
    for path, params in [("/", {}), ("/runs", {"experiment": ui_data.main_experiment_id})]:
        b.emulate_color_scheme("light")
        b.open(path, None, **params)
        light = b.js("return getComputedStyle(document.body).backgroundColor;")
        b.emulate_color_scheme("dark")
        b.wait_for(
            lambda d: b.js("return getComputedStyle(document.body).backgroundColor;") != light,
            f"the body background to change from {light} under prefers-color-scheme: dark",
            timeout=3,
        )
        dark = b.js("return getComputedStyle(document.body).backgroundColor;")
        assert dark != light
        assert b.js("return matchMedia('(prefers-color-scheme: dark)').matches;")
        b.screenshot(f"dark-{path.strip('/') or 'experiments'}")
        b.emulate_color_scheme(None)


# -- model registry ---------------------------------------------------------------------------


def test_models_list(browser, ui_data):
    b = browser
    b.open("/models", "models")
    rows = {tr.get_attribute("data-model-name"): tr for tr in b.css_all("table#models-table tr[data-model-name]")}
    assert set(rows) == {ui_data.model_name}, f"models listed: {sorted(rows)}"
    link = b.css("a", rows[ui_data.model_name])
    assert urlparse(link.get_attribute("href")).path == f"/models/{ui_data.model_name}"
    b.navigate(link.click, "model")


def test_model_page_versions_alias_tags_description(browser, ui_data):
    from ui_helpers import MODEL_DESCRIPTION, MODEL_TAG

    b = browser
    model_run = ui_data.run(ui_data.model_run)
    b.open(f"/models/{ui_data.model_name}", "model")
    versions = [tr.get_attribute("data-version") for tr in b.css_all("table#model-versions tr[data-version]")]
    assert versions == [ui_data.model_version] == ["1"], versions
    row = b.css(f'table#model-versions tr[data-version="{ui_data.model_version}"]')
    run_links = [a for a in b.css_all("a", row) if urlparse(a.get_attribute("href")).path == f"/runs/{model_run.run_id}"]
    assert run_links, f"version row has no link to its source run /runs/{model_run.run_id}"
    aliases = b.text(b.wait_css("#model-aliases"))
    assert "champion" in aliases
    tags = b.text("#model-tags")
    assert MODEL_TAG[0] in tags and MODEL_TAG[1] in tags
    assert MODEL_DESCRIPTION in b.text("#model-description")
    b.navigate(run_links[0].click, "run")
    assert b.path() == f"/runs/{model_run.run_id}"


def test_model_version_page_lineage_and_policy(browser, ui_data):
    b = browser
    model_run = ui_data.run(ui_data.model_run)
    b.open(f"/models/{ui_data.model_name}/versions/{ui_data.model_version}", "version")
    lineage = b.wait_css("#version-lineage")
    b.wait_for(lambda d: model_run.run_id in lineage.get_attribute("innerHTML"),
               f"the lineage to name the source run {model_run.run_id}")
    b.screenshot("version-lineage", focus=lineage)
    assert b.wait_css("#version-policy").is_displayed()


# -- robustness: odd URLs, hostile names ------------------------------------------------------


def odd_urls(d) -> list[tuple[str, dict]]:
    rid = d.run("ui-run-02").run_id
    art = d.run(d.artifact_run).run_id
    return [
        ("/runs", {"experiment": "not-a-number"}),
        ("/runs", {}),
        ("/runs", {"experiment": d.main_experiment_id, "max_results": "-5"}),
        ("/runs", {"experiment": d.main_experiment_id, "max_results": "abc"}),
        ("/runs", {"experiment": d.main_experiment_id, "max_results": "99999999"}),
        ("/runs", {"experiment": d.main_experiment_id, "order": "bogus column SIDEWAYS"}),
        ("/runs", {"experiment": d.main_experiment_id, "columns": "params.<b>x</b>,metrics.,tags."}),
        ("/runs", {"experiment": d.main_experiment_id, "filter": "params.lr = '"}),
        (f"/runs/{art}", {"artifact": "../../../../../../etc/passwd"}),
        (f"/runs/{art}", {"artifact": "/etc/passwd"}),
        (f"/runs/{art}", {"artifact": "data/../../../../etc/passwd"}),
        (f"/runs/{art}", {"artifact": "no/such/file.txt"}),
        ("/runs/not a run id", {}),
        ("/charts", {}),
        ("/charts", {"run": rid, "key": "no-such-metric"}),
        ("/charts", {"run": rid, "key": "loss", "range": "abc,def"}),
        ("/charts", {"run": rid, "key": "loss", "smooth": "5", "x": "sideways", "log": "maybe"}),
        ("/compare", {}),
        ("/compare", {"run": rid}),
        ("/compare", {"run": [rid, rid], "x": "params.nope", "y": "metrics.nope"}),
        (f"/models/{d.model_name}/versions/abc", {}),
        ("/", {"view": "bogus"}),
        ("/", {"q": "%' OR 1=1 --"}),
    ]


def test_odd_urls_never_answer_5xx(ui_data, ui_server):
    """Garbage in the URL gets a page (or a 4xx error page), never a server error or a file
    from outside the run's artifacts."""
    problems = []
    for path, params in odd_urls(ui_data):
        r = requests.get(ui_server.url + path, params=params, timeout=30)
        if r.status_code >= 500:
            problems.append(f"GET {r.url}: HTTP {r.status_code}: {r.text[:200]!r}")
        elif "root:x:0:0" in r.text:
            problems.append(f"GET {r.url}: shows /etc/passwd")
        elif r.status_code < 500 and "data-page=" not in r.text:
            problems.append(f"GET {r.url}: HTTP {r.status_code} without a UI page: {r.text[:200]!r}")
    assert not problems, "\n".join(problems)


EVIL = '</script><img src=x onerror="window.__cairn_xss=1"><b>bold</b>"\'&amp;'


def test_html_in_names_and_values_is_shown_as_text(browser, ui_data, ui_server):
    """Names, params, tags and metric keys with HTML in them are text on every page: nothing runs,
    nothing breaks out of the chart's embedded JSON."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from cairn_helpers import unique

    b = browser
    client = MlflowClient(tracking_uri=ui_server.url)
    exp_name = unique("ui-evil") + EVIL
    exp_id = client.create_experiment(exp_name)
    run = client.create_run(exp_id, run_name="run" + EVIL)
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("loss", 1.0 / (1 + s), 1_700_000_000_000 + s, s) for s in range(5)],
        params=[Param("p", EVIL), Param("lr", "0.1")],
        tags=[RunTag("note", EVIL)],
    )
    client.set_terminated(rid)
    other = ui_data.run("ui-run-02").run_id
    pages = [
        ("/", "experiments", {}),
        ("/runs", "runs", {"experiment": exp_id, "columns": "params.p,tags.note"}),
        (f"/runs/{rid}", "run", {}),
        ("/charts", "charts", {"run": [rid, other], "key": "loss"}),
        ("/compare", "compare", {"run": [rid, other]}),
    ]
    for path, page, params in pages:
        b.open(path, page, **params)
        assert b.js("return window.__cairn_xss === undefined;"), f"{path}: HTML from a name ran as markup"
        body = b.text("main#page")
        assert EVIL in body or ("run" + EVIL) in body or exp_name in body, f"{path}: the name is not shown as text"
        assert not b.css_all("main#page img[src='x']"), f"{path}: an <img> from a name is in the page"
    # the chart still drew both runs (its JSON was not cut by the </script> in the name)
    b.open("/charts", "charts", run=[rid, other], key="loss")
    assert len(b.css_all("#chart svg path.series")) == 2
    assert ("run" + EVIL) in b.text("#legend")
