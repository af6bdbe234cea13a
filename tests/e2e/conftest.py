"""Session fixtures: one real `cairn server` for the whole run, driven by the real mlflow client.

CAIRN_BIN points at the binary (scripts/test sets it to the release build).
"""

from __future__ import annotations

import os

# Settings for the mlflow client; they must be set before mlflow is imported.
# Fail fast instead of retrying 5xx answers for minutes (a 5xx is a bug we want to see).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
# No outbound telemetry from the client during tests.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_REGISTRY_URI", None)
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)

import mlflow  # noqa: E402
import pytest  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from cairn_helpers import Api, CairnServer, unique  # noqa: E402

_SESSION_SERVER: CairnServer | None = None
LOG_TAIL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the shared server's log to every failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SESSION_SERVER is not None:
        tail = "\n".join(_SESSION_SERVER.log_text().splitlines()[-LOG_TAIL_LINES:])
        rep.sections.append((f"cairn server log (last {LOG_TAIL_LINES} lines)", tail))


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared cairn server. Teardown asserts a graceful SIGTERM shutdown (exit 0 within 10 s)."""
    workdir = tmp_path_factory.mktemp("cairn-server")
    srv = CairnServer(workdir)
    srv.start()
    global _SESSION_SERVER
    _SESSION_SERVER = srv
    os.environ["MLFLOW_TRACKING_URI"] = srv.url
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    try:
        yield srv
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        rc = srv.stop()
        log = srv.log_text()
        assert "panicked" not in log, f"the server panicked during the session:\n{log[-5000:]}"
        assert rc == 0, (
            f"cairn server did not shut down gracefully on SIGTERM "
            f"({'killed after timeout' if rc is None else f'exit code {rc}'}).\n"
            f"--- server log ---\n{srv.log_text()[-5000:]}"
        )


@pytest.fixture(scope="session")
def api(server) -> Api:
    return Api(server.url)


@pytest.fixture()
def client(server) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


@pytest.fixture()
def experiment(server, client):
    """A fresh experiment, made active for fluent calls; yields its id."""
    name = unique("e2e")
    exp = mlflow.set_experiment(name)
    yield exp.experiment_id
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture()
def run_id(api, experiment) -> str:
    """A fresh RUNNING run created over raw REST."""
    return api.create_run(experiment)["info"]["run_id"]


# ---------------------------------------------------------------------------------------------
# Web-UI tests (tests/e2e/test_ui_*.py): headless Chromium through selenium; see ui_helpers.py.
# ui_helpers (and selenium) are imported lazily so the rest of the suite runs without them.


@pytest.hookimpl(hookwrapper=True, specname="pytest_runtest_makereport")
def pytest_ui_runtest_makereport(item, call):
    """On a failing UI test: the UI server's log tail, the page the browser was on, its JS errors."""
    outcome = yield
    rep = outcome.get_result()
    funcargs = getattr(item, "funcargs", {}) or {}
    if not rep.failed:
        return
    ui_server = funcargs.get("ui_server")
    if ui_server is not None:
        tail = "\n".join(ui_server.log_text().splitlines()[-LOG_TAIL_LINES:])
        rep.sections.append((f"cairn UI server log (last {LOG_TAIL_LINES} lines)", tail))
    browser = funcargs.get("browser")
    if browser is not None:
        try:
            shot = browser.screenshot("FAILED")
            errors = browser.console_errors()
            rep.sections.append(
                ("browser", f"url: {browser.current_url()}\nscreenshot: {shot}\nconsole errors: {errors}")
            )
        except Exception as e:  # the browser itself may be gone
            rep.sections.append(("browser", f"<browser state unavailable: {e!r}>"))


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """A cairn server (SQLite always) for one UI test module; teardown checks a clean SIGTERM exit."""
    srv = CairnServer(tmp_path_factory.mktemp("cairn-ui-server"), sqlite_only=True)
    srv.start()
    try:
        yield srv
    finally:
        rc = srv.stop()
        log = srv.log_text()
        assert "panicked" not in log, f"the UI server panicked:\n{log[-5000:]}"
        assert rc == 0, f"the UI server did not shut down gracefully (rc={rc}).\n{log[-5000:]}"


@pytest.fixture(scope="module")
def ui_data(ui_server, tmp_path_factory):
    """ui_server filled by the real mlflow client: 2 experiments, runs, nesting, a dataset,
    artifacts and a registered model (see ui_helpers.seed_ui_data)."""
    import contextlib
    import io

    import ui_helpers

    # (mlflow prints a "View run at" line per run: keep failure reports readable)
    with contextlib.redirect_stdout(io.StringIO()):
        return ui_helpers.seed_ui_data(ui_server.url, tmp_path_factory.mktemp("cairn-ui-seed"))


@pytest.fixture(scope="module")
def ui_driver():
    """One headless Chromium (fresh profile) per UI test module."""
    import ui_helpers

    driver, profile = ui_helpers.start_chromium()
    try:
        yield driver
    finally:
        ui_helpers.stop_chromium(driver, profile)


@pytest.fixture()
def browser(ui_driver, ui_server, request):
    """The shared Chromium, bound to this test (screenshot names) and to ui_server's URL.

    Teardown fails the test on uncaught JS errors and resets what a test may have changed."""
    import ui_helpers

    b = ui_helpers.UiBrowser(ui_driver, ui_server.url, request.node.name)
    b.console_errors()  # drop messages of earlier tests
    yield b
    errors = b.console_errors()
    try:
        b.emulate_color_scheme(None)
        ui_driver.delete_all_cookies()
        ui_driver.get("about:blank")
    except Exception:
        pass
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"


def pytest_terminal_summary(terminalreporter):
    """Where the UI tests' screenshots are."""
    import sys

    mod = sys.modules.get("ui_helpers")
    if mod is None:
        return
    shots = mod.screenshots_taken()
    if shots:
        terminalreporter.write_line(f"UI screenshots ({len(shots)} PNG): {mod.SCREENSHOT_DIR}")


# `cairn data` and `cairn eval` read files, not the tracking store: their tests run once, in the
# SQLite pass. The ones that talk to a server (tracking) or to PostgreSQL (pushdown) run in both.
BACKEND_INDEPENDENT_PREFIXES = ("test_data_", "test_eval")
BACKEND_DEPENDENT = {
    "test_data_tracking.py", "test_data_postgres.py", "test_eval_tracking.py", "test_eval_model.py",
}


def pytest_collection_modifyitems(config, items):
    from cairn_helpers import e2e_backend

    if e2e_backend() != "postgres":
        return
    skip = pytest.mark.skip(reason="cairn data/eval read files; runs in the SQLite pass")
    for item in items:
        name = item.path.name
        if name.startswith(BACKEND_INDEPENDENT_PREFIXES) and name not in BACKEND_DEPENDENT:
            item.add_marker(skip)
