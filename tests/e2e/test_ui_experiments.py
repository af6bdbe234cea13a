"""Web UI, experiments page (`/`, `/experiments`): run counts, links, search, and
create / rename / delete / restore through the browser, checked with the real mlflow client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from mlflow import MlflowClient
from selenium.webdriver.common.keys import Keys

from cairn_helpers import unique
from ui_helpers import UiBrowser, run_rows, ui_sqlite_only

pytestmark = ui_sqlite_only


def experiment_rows(b: UiBrowser) -> dict[str, dict]:
    """Rows of table#experiments-table by experiment id: name, runs, last activity, link."""
    rows = b.js(
        """
        return Array.from(document.querySelectorAll('table#experiments-table tr[data-experiment-id]')).map(tr => {
            const name = tr.querySelector('td.exp-name');
            const link = name && name.querySelector('a');
            const runs = tr.querySelector('td.exp-runs');
            const last = tr.querySelector('td.exp-last-activity');
            return {
                id: tr.getAttribute('data-experiment-id'),
                name: name ? name.textContent.trim() : null,
                href: link ? link.href : null,
                runs: runs ? runs.textContent.trim() : null,
                last: last ? last.textContent.trim() : null,
            };
        });
        """
    )
    return {r["id"]: r for r in rows}


def wait_row(b: UiBrowser, predicate, what: str) -> dict:
    """Wait until some experiment row satisfies predicate(row) (page reload or in-place update)."""
    found = {}

    def cond(_):
        for row in experiment_rows(b).values():
            if predicate(row):
                found["row"] = row
                return True
        return False

    b.wait_for(cond, what)
    return found["row"]


def test_experiments_list_shows_active_run_counts(browser, ui_data):
    b = browser
    b.open("/", "experiments")
    b.wait_css("table#experiments-table")
    rows = experiment_rows(b)
    main = rows.get(ui_data.main_experiment_id)
    other = rows.get(ui_data.other_experiment_id)
    assert main is not None and other is not None, f"experiment rows: {rows}"
    assert main["name"] == ui_data.main_experiment_name
    assert other["name"] == ui_data.other_experiment_name
    # 9 plain runs + parent + 2 children + the model run
    assert main["runs"] == str(len(ui_data.in_experiment(ui_data.main_experiment_id))) == "13"
    # 3 runs, 1 of them deleted: the count is of active runs
    assert other["runs"] == "2", f"deleted runs must not count: {other}"
    assert main["last"], "td.exp-last-activity is empty"
    assert other["last"], "td.exp-last-activity is empty"
    if "0" in rows:  # the Default experiment, no runs
        assert rows["0"]["runs"] == "0"


def test_experiments_alias_path_and_name_link(browser, ui_data):
    b = browser
    b.open("/experiments", "experiments")
    rows = experiment_rows(b)
    assert ui_data.main_experiment_id in rows and ui_data.other_experiment_id in rows
    href = rows[ui_data.main_experiment_id]["href"]
    assert href, "td.exp-name has no link"
    u = urlparse(href)
    assert u.path == "/runs" and parse_qs(u.query).get("experiment") == [ui_data.main_experiment_id], href
    link = b.css(f'tr[data-experiment-id="{ui_data.main_experiment_id}"] td.exp-name a')
    b.navigate(link.click, "runs")
    assert b.query().get("experiment") == [ui_data.main_experiment_id]
    shown = {r["run_id"] for r in run_rows(b)}
    assert shown == {r.run_id for r in ui_data.in_experiment(ui_data.main_experiment_id)}


def test_experiment_search_by_name_substring(browser, ui_data):
    b = browser
    b.open("/", "experiments")
    needle = ui_data.other_experiment_name[3:]  # "other-ui-…": a substring, not a prefix
    field = b.type_into("form#experiment-search input[name=q]", needle)
    b.navigate(lambda: field.send_keys(Keys.ENTER), "experiments")
    assert b.path() == "/" and b.query().get("q") == [needle], b.current_url()
    rows = experiment_rows(b)
    assert set(rows) == {ui_data.other_experiment_id}, f"search {needle!r} shows {rows}"
    # the URL alone gives the same answer (a GET form: deep-linkable)
    b.open("/", "experiments", q=ui_data.main_experiment_name[3:])
    assert set(experiment_rows(b)) == {ui_data.main_experiment_id}
    b.open("/", "experiments", q="no-experiment-is-called-this")
    assert experiment_rows(b) == {}


def test_create_rename_delete_restore_experiment(browser, ui_data, ui_server):
    b = browser
    client = MlflowClient(tracking_uri=ui_server.url)
    name = unique("ui-created")
    b.open("/", "experiments")

    # create
    b.type_into("form#create-experiment input[name=name]", name)
    submit = b.css("form#create-experiment button[type=submit], form#create-experiment button:not([type]), "
                   "form#create-experiment input[type=submit]")
    submit.click()
    row = wait_row(b, lambda r: r["name"] == name, f"a row for the new experiment {name!r}")
    b.screenshot("experiments-created")
    exp = client.get_experiment_by_name(name)
    assert exp is not None and exp.lifecycle_stage == "active", f"mlflow does not see {name!r}"
    assert row["id"] == exp.experiment_id
    assert row["runs"] == "0"
    exp_id = exp.experiment_id

    # rename (the page asks with window.prompt)
    new_name = unique("ui-renamed")
    b.js("window.prompt = () => arguments[0];", new_name)
    b.css(f'tr[data-experiment-id="{exp_id}"] button.exp-rename').click()
    wait_row(b, lambda r: r["id"] == exp_id and r["name"] == new_name, f"the row of {exp_id} to show {new_name!r}")
    b.screenshot("experiments-renamed")
    assert client.get_experiment(exp_id).name == new_name

    # delete (a confirm() dialog, if the page asks, is answered yes)
    b.js("window.confirm = () => true;")
    b.css(f'tr[data-experiment-id="{exp_id}"] button.exp-delete').click()
    b.wait_for(lambda d: exp_id not in experiment_rows(b), f"the row of {exp_id} to go away")
    b.screenshot("experiments-deleted")
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    b.open("/", "experiments")
    assert exp_id not in experiment_rows(b)

    # the deleted view lists it, with a restore button
    b.open("/", "experiments", view="deleted")
    deleted_rows = experiment_rows(b)
    assert exp_id in deleted_rows and deleted_rows[exp_id]["name"] == new_name, deleted_rows
    assert ui_data.main_experiment_id not in deleted_rows, "active experiments in ?view=deleted"
    b.js("window.confirm = () => true;")
    b.css(f'tr[data-experiment-id="{exp_id}"] button.exp-restore').click()
    b.wait_for(lambda d: client.get_experiment(exp_id).lifecycle_stage == "active", "mlflow to see the experiment restored")
    # The page reloads the deleted view after a restore; navigating before that reload lands could be
    # overtaken by it, so wait for the row to leave this view first.
    b.wait_for(lambda d: exp_id not in experiment_rows(b), f"the row of {exp_id} to leave the deleted view")
    b.open("/", "experiments")
    assert exp_id in experiment_rows(b)
    assert experiment_rows(b)[exp_id]["name"] == new_name
