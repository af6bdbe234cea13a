"""System metrics logging (flow 27): the client's background monitor logs system/* metrics via log-batch."""

import time

import mlflow
import pytest


@pytest.fixture()
def system_metrics():
    mlflow.enable_system_metrics_logging()
    mlflow.set_system_metrics_sampling_interval(1)
    mlflow.set_system_metrics_samples_before_logging(1)
    try:
        yield
    finally:
        mlflow.disable_system_metrics_logging()
        mlflow.set_system_metrics_sampling_interval(None)
        mlflow.set_system_metrics_samples_before_logging(None)


def test_system_metrics_logged(experiment, client, system_metrics):
    with mlflow.start_run() as run:
        mlflow.log_param("with_system_metrics", "yes")
        time.sleep(3)
        # on a loaded machine the sampler may lag: give it up to 10 s more to log twice
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")) >= 2:
                break
            time.sleep(0.5)
    rid = run.info.run_id
    r = client.get_run(rid)
    system = {k: v for k, v in r.data.metrics.items() if k.startswith("system/")}
    assert system, f"no system/ metrics, got {sorted(r.data.metrics)}"
    assert "system/cpu_utilization_percentage" in system
    assert "system/system_memory_usage_megabytes" in system
    assert 0.0 <= system["system/cpu_utilization_percentage"] <= 100.0 * 64
    assert system["system/system_memory_usage_megabytes"] > 0
    hist = client.get_metric_history(rid, "system/cpu_utilization_percentage")
    assert len(hist) >= 2, hist
    steps = sorted(m.step for m in hist)
    assert steps == list(range(len(steps))), steps
    assert r.info.status == "FINISHED"
