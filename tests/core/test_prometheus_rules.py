"""deploy/prometheus/alerts.yml and the Grafana dashboard only name metrics that /metrics
exports (and the rules pass promtool when it is installed)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "leadbrain.json"
METRIC = re.compile(r"\b((?:leadbrain|django)_[a-zA-Z0-9_]+)\b")


@pytest.fixture
def exported(metrics_client) -> set[str]:
    page = metrics_client.get("/metrics").content.decode()
    names = set()
    for family in text_string_to_metric_families(page):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_every_rule_names_exported_metrics(exported):
    rules = rule_expressions()
    assert len(rules) >= 20
    for name, expr in rules.items():
        used = set(METRIC.findall(expr))
        assert used, f"{name} names no metric"
        assert used <= exported, f"{name}: not on /metrics: {sorted(used - exported)}"


def test_the_rules_cover_every_built_in_alert_condition():
    exprs = " ".join(rule_expressions().values())
    for metric in (
        "leadbrain_health_metric_status",  # /health yellow or red, per metric
        "leadbrain_dialer_outbox_dead",
        "leadbrain_dialer_servers_paused",
        "leadbrain_calllogs_sync_failing",
        "leadbrain_calllogs_drift",
        "leadbrain_routing_failed_total",
        "leadbrain_broadcast_devices_alerting",
        "leadbrain_calllogs_webhook_dead_letters",
        'leadbrain_job_last_success_timestamp_seconds{job="core.partitions"}',
        'leadbrain_job_last_success_timestamp_seconds{job="leads.archive"}',
    ):
        assert metric in exprs


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_built_on_exported_metrics(exported):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    for expr in dashboard_expressions():
        used = set(METRIC.findall(expr))
        assert used and used <= exported, f"{expr}: not on /metrics: {sorted(used - exported)}"
