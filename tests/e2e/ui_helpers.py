"""Helpers for the web-UI e2e tests: headless Chromium through selenium, and a server filled by
the real mlflow client with the data the UI pages show.

The UI tests run in the SQLite e2e pass only (`ui_sqlite_only`); the PostgreSQL pass skips them.
Screenshots of every page a test visits land in tests/e2e/screenshots/ (gitignored).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from cairn_helpers import e2e_backend, unique

# selenium-manager must not reach out to the network (we give it the driver and the browser).
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    UnexpectedAlertPresentException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

E2E_DIR = Path(__file__).resolve().parent
SCREENSHOT_DIR = E2E_DIR / "screenshots"

# Skip marker: the UI tests run in the SQLite pass of scripts/test only.
ui_sqlite_only = pytest.mark.skipif(
    e2e_backend() != "sqlite", reason="web-UI tests run in the SQLite e2e pass only"
)

# The flags Chromium starts with (plus a fresh --user-data-dir and the window size).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WINDOW_SIZE = (1400, 900)
# Longest wait for anything in the browser (seconds).
WAIT_S = 10.0

# Keys the seeded data uses.
MAIN_RUNS = 9  # plain runs ui-run-00 .. ui-run-08 in the main experiment
LOSS_STEPS = 50
ACC_STEPS = [0, 10, 20, 30, 40, 49]
LRS = [0.1, 0.03, 0.01, 0.003, 0.001, 0.05, 0.02, 0.005, 0.0005]
OPTIMIZERS = ["adam", "sgd", "rmsprop"]
MODEL_NAME = "ui-model"
MODEL_DESCRIPTION = "A tiny linear model for the UI tests"
MODEL_TAG = ("owner", "ui-tests")


def chromium_binary() -> str:
    """The Chromium executable: $CAIRN_E2E_CHROMIUM, else Debian's real binary.

    /usr/bin/chromium is Debian's shell wrapper, which adds the flags of /etc/chromium.d/*
    (extensions, GPU rasterization, ...); the binary behind it starts with our flags only.
    """
    explicit = os.environ.get("CAIRN_E2E_CHROMIUM")
    if explicit:
        return explicit
    for cand in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if os.access(cand, os.X_OK):
            return cand
    raise RuntimeError("Chromium not found: install Debian's chromium and chromium-driver (scripts/test does)")


def chromedriver_path() -> str:
    path = os.environ.get("CAIRN_E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"chromedriver not found at {path}: apt-get install -y chromium-driver (scripts/test does)")
    return path


def start_chromium() -> tuple[webdriver.Chrome, str]:
    """A headless Chromium with a fresh profile; returns (driver, profile dir)."""
    profile = tempfile.mkdtemp(prefix="cairn-ui-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium_binary()
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    # Console messages (to report uncaught JS errors).
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver_path())
    try:
        driver = webdriver.Chrome(options=opts, service=service)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver, profile


def stop_chromium(driver: webdriver.Chrome, profile: str) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# screenshots

_screenshots_taken: list[Path] = []
_screenshot_dir_cleaned = False


def screenshots_taken() -> list[Path]:
    return list(_screenshots_taken)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "page"


def _screenshot_path(test_name: str, label: str) -> Path:
    global _screenshot_dir_cleaned
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    if not _screenshot_dir_cleaned:
        # One folder per pytest session: drop the PNGs of earlier sessions.
        for old in SCREENSHOT_DIR.glob("*.png"):
            old.unlink(missing_ok=True)
        _screenshot_dir_cleaned = True
    base = f"{_safe(test_name)}--{_safe(label)}"
    path = SCREENSHOT_DIR / f"{base}.png"
    n = 2
    while path.exists():
        path = SCREENSHOT_DIR / f"{base}-{n}.png"
        n += 1
    return path


# ---------------------------------------------------------------------------------------------
# the browser a test drives


class UiBrowser:
    """One test's view of the shared Chromium: open pages, wait, click, screenshot."""

    def __init__(self, driver: webdriver.Chrome, base_url: str, test_name: str):
        self.driver = driver
        self.base = base_url.rstrip("/")
        self.test_name = test_name
        self.shots: list[Path] = []

    # -- navigation -------------------------------------------------------------------------

    def url(self, path: str, **params) -> str:
        if path.startswith("http"):
            out = path
        else:
            out = self.base + (path if path.startswith("/") else "/" + path)
        if params:
            out += ("&" if "?" in out else "?") + urlencode(params, doseq=True)
        return out

    def open(self, path: str, page: str | None = None, shot: str | None = None, **params) -> WebElement:
        """GET path (with query params), wait for <main id=page>, check data-page, screenshot
        (named `shot`, else by the page)."""
        self.driver.get(self.url(path, **params))
        return self.wait_page(page, shot=shot)

    def wait_page(self, page: str | None = None, old: WebElement | None = None, shot: str | None = None) -> WebElement:
        """Wait for the page (after `old` went stale, when given), check data-page, screenshot."""
        if old is not None:
            self.wait_for(EC.staleness_of(old), f"the page to navigate away from {self.current_url()}")
        main = self.wait_css("main#page")
        if page is not None:
            self.wait_for(
                lambda d: self._attr("main#page", "data-page") == page,
                f"main#page[data-page={page!r}] on {self.current_url()} "
                f"(it says {self._attr('main#page', 'data-page')!r})",
            )
            main = self.css("main#page")
        self.screenshot(shot or page or self._attr("main#page", "data-page") or "page")
        return main

    def navigate(self, action, page: str | None = None) -> WebElement:
        """Run `action()` (a click, a submit), wait for the next page to load, screenshot it."""
        old = self.driver.find_element(By.CSS_SELECTOR, "main#page")
        action()
        return self.wait_page(page, old=old)

    def current_url(self) -> str:
        return self.driver.current_url

    def query(self) -> dict[str, list[str]]:
        """The current URL's query, as parse_qs gives it (every key a list)."""
        return parse_qs(urlparse(self.driver.current_url).query, keep_blank_values=True)

    def path(self) -> str:
        return urlparse(self.driver.current_url).path

    # -- finding and waiting ----------------------------------------------------------------

    def css(self, selector: str, root: WebElement | None = None) -> WebElement:
        return (root or self.driver).find_element(By.CSS_SELECTOR, selector)

    def css_all(self, selector: str, root: WebElement | None = None) -> list[WebElement]:
        return (root or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def exists(self, selector: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def _attr(self, selector: str, name: str) -> str | None:
        try:
            return self.driver.find_element(By.CSS_SELECTOR, selector).get_attribute(name)
        except (NoSuchElementException, StaleElementReferenceException):
            return None

    def wait_for(self, condition, what: str, timeout: float = WAIT_S):
        """WebDriverWait(condition) with a readable failure message."""

        def guarded(d):
            try:
                return condition(d)
            except UnexpectedAlertPresentException:
                raise
            except WebDriverException:
                return False  # not there yet, or the page is being replaced: ask again

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(guarded)
        except TimeoutException:
            title = ""
            with contextlib.suppress(Exception):
                title = self.driver.title
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; "
                f"page {self.current_url()!r} (title {title!r})"
            ) from None

    def wait_css(self, selector: str, visible: bool = False, timeout: float = WAIT_S) -> WebElement:
        cond = EC.visibility_of_element_located if visible else EC.presence_of_element_located
        return self.wait_for(cond((By.CSS_SELECTOR, selector)), f"{selector!r}" + (" (visible)" if visible else ""), timeout)

    def wait_url(self, predicate, what: str, timeout: float = WAIT_S) -> dict[str, list[str]]:
        """Wait until predicate(query dict) holds for the current URL; returns the query."""
        self.wait_for(lambda d: predicate(self.query()), f"the URL to show {what} (URL {self.current_url()})", timeout)
        return self.query()

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def text(self, target: str | WebElement) -> str:
        """textContent of an element (or the first match of a selector), whitespace collapsed.

        (Unlike WebElement.text this does not depend on the element being scrolled into view.)"""
        el = self.css(target) if isinstance(target, str) else target
        return " ".join((self.js("return arguments[0].textContent;", el) or "").split())

    # -- input ------------------------------------------------------------------------------

    def type_into(self, selector: str, text: str, submit: bool = False) -> WebElement:
        el = self.wait_css(selector, visible=True)
        el.clear()
        el.send_keys(text)
        if submit:
            el.send_keys(Keys.ENTER)
        return el

    def set_value(self, selector: str, value) -> None:
        """Set an input's value from JS and fire input + change (range sliders, number inputs)."""
        el = self.wait_css(selector)
        self.js(
            "const el = arguments[0]; el.value = arguments[1];"
            "el.dispatchEvent(new Event('input', {bubbles: true}));"
            "el.dispatchEvent(new Event('change', {bubbles: true}));",
            el,
            str(value),
        )

    def hover(self, el: WebElement, dx: float = 0, dy: float = 0) -> None:
        """Move the mouse to el's center plus (dx, dy) CSS pixels."""
        ActionChains(self.driver).move_to_element_with_offset(el, int(dx), int(dy)).pause(0.1).perform()

    def press_tab(self, n: int = 1) -> None:
        chain = ActionChains(self.driver)
        for _ in range(n):
            chain.send_keys(Keys.TAB)
        chain.perform()

    # -- color scheme -----------------------------------------------------------------------

    def emulate_color_scheme(self, scheme: str | None) -> None:
        """prefers-color-scheme through CDP Emulation.setEmulatedMedia (None: back to default)."""
        features = [] if scheme is None else [{"name": "prefers-color-scheme", "value": scheme}]
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})

    # -- evidence ---------------------------------------------------------------------------

    def screenshot(self, label: str, focus: WebElement | str | None = None) -> Path:
        """A PNG of the viewport, after scrolling `focus` (an element or selector) into view."""
        if focus is not None:
            el = self.css(focus) if isinstance(focus, str) else focus
            self.js("arguments[0].scrollIntoView({block: 'center'});", el)
        path = _screenshot_path(self.test_name, label)
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        _screenshots_taken.append(path)
        return path

    def console_errors(self) -> list[str]:
        """Uncaught JS errors logged since the last call (network 404s of resources excluded)."""
        try:
            entries = self.driver.get_log("browser")
        except Exception:
            return []
        out = []
        for e in entries:
            if e.get("level") != "SEVERE":
                continue
            msg = e.get("message", "")
            if "Failed to load resource" in msg or "favicon.ico" in msg:
                continue
            out.append(msg)
        return out


# ---------------------------------------------------------------------------------------------
# numbers shown on pages


NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def numbers_in(text: str) -> list[float]:
    return [float(m) for m in NUMBER_RE.findall(text.replace(",", ""))]


def shown_float(text: str) -> float:
    """The single number a table cell shows."""
    nums = numbers_in(text)
    assert len(nums) == 1, f"expected one number in {text!r}, found {nums}"
    return nums[0]


DURATION_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d)\b")


def shown_seconds(text: str) -> float | None:
    """A duration as a page shows it ("1m 07s", "67s", "1.1 min", "132ms") in seconds."""
    parts = DURATION_RE.findall(text)
    if not parts:
        return None
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


DURATION_SEQ_RE = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:ms|sec|min|s|m|h|d)\b\s*)+")


def durations_in(text: str) -> list[float]:
    """Every duration in a text ("... Duration 1m 21s ..." -> [81.0]), in seconds."""
    return [shown_seconds(m.group(0)) for m in DURATION_SEQ_RE.finditer(text)]


def utc_minute(ms: int) -> tuple[str, str]:
    """(YYYY-MM-DD, HH:MM) of an epoch-milliseconds time, in UTC: how a page may show it."""
    import datetime as _dt

    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%d"), t.strftime("%H:%M")


def close_shown(shown: float, true: float) -> bool:
    """A value shown on a page (maybe rounded for display) matches the logged one."""
    return math.isclose(shown, true, rel_tol=1e-3, abs_tol=1e-6)


# ---------------------------------------------------------------------------------------------
# test data, logged with the real mlflow client


def tiny_png(width: int = 16, height: int = 12) -> bytes:
    """A valid RGB PNG (a colour gradient), written with zlib + struct only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // (width - 1), y * 255 // (height - 1), 128)) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


PNG_SIZE = (16, 12)
TEXT_ARTIFACT = "cairn UI test notes\nsecond line: 42\n"
JSON_ARTIFACT = {"model": "linear", "layers": [1, 2, 3], "nested": {"alpha": 0.5, "ok": True}}
YAML_ARTIFACT = "optimizer: adam\nlearning_rate: 0.01\nlayers:\n  - 64\n  - 32\n"
CSV_HEADER = ["epoch", "loss", "split"]
CSV_ROWS = [["1", "0.93", "train"], ["2", "0.71", "train"], ["3", "0.64", "valid"], ["4", "0.58", "valid"]]
MLMODEL_ARTIFACT = (
    "artifact_path: model\n"
    "flavors:\n"
    "  python_function:\n"
    "    loader_module: mlflow.sklearn\n"
    "    python_version: 3.11.0\n"
    "mlflow_version: 3.17.2\n"
)
ARTIFACT_FILES = {
    "notes.txt": "text",
    "config.json": "json",
    "params.yaml": "yaml",
    "data/table.csv": "csv",
    "images/plot.png": "image",
    "model/MLmodel": "mlmodel",
}


def loss_value(i: int, step: int) -> float:
    return (1.5 + 0.125 * i) / (1.0 + 0.1 * step) + 0.0137 * i


def acc_value(i: int, step: int) -> float:
    return 0.40 + 0.05 * i + 0.002 * step


def step_offset_ms(step: int) -> int:
    """Timestamps grow quadratically with the step, so x=time draws another curve than x=step."""
    return step * 100 + step * step * 20


def RUN_DURATION_MS(i: int) -> int:  # noqa: N802 - a table, read like a constant
    return 60_000 + i * 7_000


@dataclass
class RunRecord:
    run_id: str
    name: str
    experiment_id: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # key -> [(step, value, timestamp ms)]
    history: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    parent_id: str | None = None
    status: str = "FINISHED"
    user_id: str = ""
    source_name: str = ""
    start_time: int = 0
    end_time: int = 0

    def latest(self, key: str) -> float | None:
        """The value the run shows for `key`: the one at the highest step (then timestamp)."""
        pts = self.history.get(key)
        if not pts:
            return None
        return max(pts, key=lambda p: (p[0], p[2]))[1]

    def value_at(self, key: str, step: int) -> float:
        vals = [v for s, v, _ in self.history[key] if s == step]
        assert len(vals) == 1, f"{self.name}: {len(vals)} values of {key} at step {step}"
        return vals[0]


@dataclass
class UiData:
    url: str
    main_experiment_id: str
    main_experiment_name: str
    other_experiment_id: str
    other_experiment_name: str
    runs: dict[str, RunRecord]  # by run name
    parent_name: str
    child_names: list[str]
    dataset_run: str  # run name
    dataset_name: str
    dataset_digest: str
    artifact_run: str  # run name
    model_run: str  # run name
    model_id: str
    model_name: str
    model_version: str
    deleted_run_id: str  # a deleted run in the other experiment

    def run(self, name: str) -> RunRecord:
        return self.runs[name]

    def by_id(self, run_id: str) -> RunRecord:
        for r in self.runs.values():
            if r.run_id == run_id:
                return r
        raise KeyError(run_id)

    def in_experiment(self, experiment_id: str) -> list[RunRecord]:
        return [r for r in self.runs.values() if r.experiment_id == experiment_id]

    def plain_names(self) -> list[str]:
        return [f"ui-run-{i:02d}" for i in range(MAIN_RUNS)]


@contextlib.contextmanager
def mlflow_pointed_at(url: str):
    """Point the fluent mlflow API at `url`; restore the earlier tracking/registry URIs after."""
    import mlflow
    from mlflow.tracking._model_registry import utils as reg_utils
    from mlflow.tracking._tracking_service import utils as trk_utils

    from mlflow.tracking import fluent

    # Earlier tests in the same session may have left an active experiment (set_experiment) or run
    # variables behind; resuming a seeded run by id would then refuse ("active experiment ID does not
    # match"). Start clean and put everything back afterwards.
    env_keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
    saved_env = {k: os.environ.get(k) for k in env_keys}
    for k in env_keys[2:]:
        os.environ.pop(k, None)
    saved_tracking = trk_utils._tracking_uri
    saved_registry = reg_utils._registry_uri
    saved_experiment = fluent._active_experiment_id
    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        fluent._active_experiment_id = saved_experiment
        trk_utils.set_tracking_uri(saved_tracking)
        reg_utils._registry_uri = saved_registry
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _log_history(client, rec: RunRecord, start_ms: int | None, series: dict[str, list[tuple[int, float]]]) -> None:
    from mlflow.entities import Metric

    if start_ms is None:  # the run's own start
        start_ms = client.get_run(rec.run_id).info.start_time
    metrics = []
    for key, pts in series.items():
        rec.history[key] = []
        for step, value in pts:
            ts = start_ms + step_offset_ms(step)
            rec.history[key].append((step, value, ts))
            metrics.append(Metric(key=key, value=value, timestamp=ts, step=step))
    for i in range(0, len(metrics), 500):
        client.log_batch(rec.run_id, metrics=metrics[i : i + 500])


def seed_ui_data(url: str, workdir: Path) -> UiData:
    """Fill the server at `url` with what the UI pages show, through the real mlflow client."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Param
    from sklearn.linear_model import LinearRegression

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    tag = unique("ui")
    main_name = f"ui-main-{tag}"
    other_name = f"ui-other-{tag}"
    main_id = client.create_experiment(main_name)
    other_id = client.create_experiment(other_name)
    runs: dict[str, RunRecord] = {}
    base_ms = int(time.time() * 1000) - 3_600_000

    def finish(rec: RunRecord) -> None:
        run = client.get_run(rec.run_id)
        rec.status = run.info.status
        rec.user_id = run.info.user_id or ""
        rec.source_name = run.data.tags.get("mlflow.source.name", "")
        rec.start_time = run.info.start_time
        rec.end_time = run.info.end_time or 0
        rec.tags = {k: v for k, v in run.data.tags.items()}
        runs[rec.name] = rec

    files = workdir / "ui-artifacts"
    (files / "data").mkdir(parents=True, exist_ok=True)
    (files / "images").mkdir(parents=True, exist_ok=True)
    (files / "model").mkdir(parents=True, exist_ok=True)
    (files / "model" / "MLmodel").write_text(MLMODEL_ARTIFACT)
    (files / "notes.txt").write_text(TEXT_ARTIFACT)
    (files / "config.json").write_text(json.dumps(JSON_ARTIFACT, indent=2))
    (files / "params.yaml").write_text(YAML_ARTIFACT)
    (files / "data" / "table.csv").write_text("\n".join(",".join(r) for r in [CSV_HEADER, *CSV_ROWS]) + "\n")
    (files / "images" / "plot.png").write_bytes(tiny_png(*PNG_SIZE))

    dataset_name = "ui-train"
    dataset_digest = ""
    model_id = ""
    model_version = ""

    with mlflow_pointed_at(url):
        from mlflow.tracking.context.registry import resolve_tags

        # nine plain runs, started a minute apart an hour ago, each with a known duration
        for i in range(MAIN_RUNS):
            name = f"ui-run-{i:02d}"
            start = base_ms + i * 60_000
            created = client.create_run(
                main_id, start_time=start, run_name=name,
                tags=resolve_tags({"team": "vision" if i % 2 == 0 else "nlp", "ui.index": str(i)}),
            )
            rec = RunRecord(created.info.run_id, name, main_id)
            rec.params = {"lr": str(LRS[i]), "depth": str(2 + i % 4), "optimizer": OPTIMIZERS[i % 3]}
            client.log_batch(rec.run_id, params=[Param(k, v) for k, v in rec.params.items()])
            _log_history(
                client,
                rec,
                start,
                {
                    "loss": [(s, loss_value(i, s)) for s in range(LOSS_STEPS)],
                    "acc": [(s, acc_value(i, s)) for s in ACC_STEPS],
                },
            )
            if i == 0:
                for rel in ARTIFACT_FILES:
                    parent = os.path.dirname(rel)
                    client.log_artifact(rec.run_id, str(files / rel), artifact_path=parent or None)
            if i == 1:
                frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.1, 5.9, 8.2]})
                ds = mlflow.data.from_pandas(frame, name=dataset_name, targets="y")
                dataset_digest = ds.digest
                with mlflow.start_run(run_id=rec.run_id):
                    mlflow.log_input(ds, context="training")
            client.set_terminated(rec.run_id, "FINISHED", end_time=start + RUN_DURATION_MS(i))
            finish(rec)

        # a parent with two nested children
        with mlflow.start_run(experiment_id=main_id, run_name="ui-parent") as parent:
            prec = RunRecord(parent.info.run_id, "ui-parent", main_id)
            prec.params = {"lr": "0.01", "depth": "3", "optimizer": "adam"}
            mlflow.log_params(prec.params)
            _log_history(client, prec, None, {"acc": [(0, 0.55)], "loss": [(0, 0.77)]})
            children = []
            for j, cname in enumerate(["ui-child-a", "ui-child-b"]):
                with mlflow.start_run(experiment_id=main_id, run_name=cname, nested=True) as child:
                    crec = RunRecord(child.info.run_id, cname, main_id, parent_id=parent.info.run_id)
                    crec.params = {"lr": str(0.02 * (j + 1)), "depth": str(5 + j), "optimizer": "sgd"}
                    mlflow.log_params(crec.params)
                    _log_history(
                        client, crec, None,
                        {"loss": [(s, 0.9 / (1 + s) + 0.05 * j) for s in range(10)], "acc": [(0, 0.8 + 0.05 * j)]},
                    )
                children.append(crec)
        finish(prec)
        for crec in children:
            finish(crec)

        # a run that logs (and registers) a tiny sklearn model
        with mlflow.start_run(experiment_id=main_id, run_name="ui-model-run") as mrun:
            mrec = RunRecord(mrun.info.run_id, "ui-model-run", main_id)
            X = np.array([[0.0], [1.0], [2.0], [3.0]])
            y = np.array([1.0, 3.0, 5.0, 7.0])
            model = LinearRegression().fit(X, y)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=MODEL_NAME,
                pip_requirements=["scikit-learn==1.9.1"],
            )
            model_id = info.model_id or ""
            model_version = str(info.registered_model_version)
        finish(mrec)

    client.set_registered_model_alias(MODEL_NAME, "champion", model_version)
    client.set_registered_model_tag(MODEL_NAME, *MODEL_TAG)
    client.update_registered_model(MODEL_NAME, description=MODEL_DESCRIPTION)

    # the other experiment: three runs, one of them deleted
    deleted = ""
    for k in range(3):
        r = client.create_run(other_id, run_name=f"ui-other-{k}", start_time=base_ms + (30 + k) * 60_000)
        rec = RunRecord(r.info.run_id, f"ui-other-{k}", other_id)
        rec.params = {"lr": str(0.5 + k), "optimizer": "adam"}
        for key, v in rec.params.items():
            client.log_param(rec.run_id, key, v)
        _log_history(client, rec, base_ms + (30 + k) * 60_000, {"loss": [(s, 2.0 - 0.1 * s - k * 0.01) for s in range(5)]})
        client.set_terminated(rec.run_id, "FINISHED")
        if k == 2:
            client.delete_run(rec.run_id)
            deleted = rec.run_id
        else:
            finish(rec)

    return UiData(
        url=url,
        main_experiment_id=main_id,
        main_experiment_name=main_name,
        other_experiment_id=other_id,
        other_experiment_name=other_name,
        runs=runs,
        parent_name="ui-parent",
        child_names=["ui-child-a", "ui-child-b"],
        dataset_run="ui-run-01",
        dataset_name=dataset_name,
        dataset_digest=dataset_digest,
        artifact_run="ui-run-00",
        model_run="ui-model-run",
        model_id=model_id,
        model_name=MODEL_NAME,
        model_version=model_version,
        deleted_run_id=deleted,
    )


# ---------------------------------------------------------------------------------------------
# reading the runs table


def run_rows(b: UiBrowser) -> list[dict]:
    """`tr.run-row` rows of table#runs-table in page order: run_id, child, parent_id."""
    return b.js(
        """
        return Array.from(document.querySelectorAll('table#runs-table tr.run-row')).map(tr => ({
            run_id: tr.getAttribute('data-run-id'),
            child: tr.classList.contains('child'),
            parent_id: tr.getAttribute('data-parent-id'),
        }));
        """
    )


def run_cell(b: UiBrowser, run_id: str, column: str) -> str:
    return b.text(f'table#runs-table tr.run-row[data-run-id="{run_id}"] td[data-column="{column}"]')


def list_param(values: list[str]) -> list[str]:
    """A comma list in the URL (`columns=a,b`), also accepting the repeated form (`columns=a&columns=b`)."""
    out: list[str] = []
    for v in values:
        out.extend(x for x in v.split(",") if x)
    return out
