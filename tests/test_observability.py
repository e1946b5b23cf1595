"""deploy/observability/: the alert rules and the Grafana dashboard query only metrics the
service really exports, with labels those metrics really carry.

What the service exports is measured, not listed by hand: a worker runs against the real
Temporal dev server with the project's Prometheus runtime (``telemetry.runtime_with_metrics``),
completes, fails and retries workflows and activities, records every feed metric the code
defines (found by reading the code), and its ``/metrics`` endpoint is scraped. The
prometheus_client metrics (webhooks, messaging) come from the default registry once the modules
that define them are imported.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
import shutil
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack.localstack.ports import free_port
from runtime import telemetry

ROOT = Path(__file__).resolve().parent.parent
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
RUNBOOK_BASE = "https://github.com/enterprise-integrations/integrations/blob/main/docs/runbooks/"
SKIP_DIRS = {".venv", "tests", "benchmarks", "deploy", "build", ".git", ".dev"}
METER_KINDS = {
    "create_counter": "counter",
    "create_histogram": "histogram",
    "create_histogram_float": "histogram",
    "create_histogram_timedelta": "histogram",
    "create_gauge": "gauge",
    "create_gauge_float": "gauge",
}


# --- what the code defines ---------------------------------------------------------------------


def _service_sources() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts[:1])
    ]


def meter_metrics() -> dict[str, str]:
    """Metrics recorded through Temporal's metric meter (``activity.metric_meter()``), by
    name: literal names passed to ``create_*``, or to a helper that passes its parameter on."""
    found: dict[str, str] = {}
    calls: list[tuple[str, ast.Call]] = []
    wrappers: dict[str, str] = {}
    for path in _service_sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = {a.arg for a in node.args.args}
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.Call)
                        and isinstance(inner.func, ast.Attribute)
                        and inner.func.attr in METER_KINDS
                        and inner.args
                        and isinstance(inner.args[0], ast.Name)
                        and inner.args[0].id in params
                    ):
                        wrappers[node.name] = METER_KINDS[inner.func.attr]
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name:
                    calls.append((name, node))
    for name, call in calls:
        kind = METER_KINDS.get(name) or wrappers.get(name)
        if kind and call.args and isinstance(call.args[0], ast.Constant):
            found[str(call.args[0].value)] = kind
    return found


def prometheus_client_metrics() -> dict[str, set[str]]:
    """Exposition names -> label names of the prometheus_client metrics the service defines."""
    for path in _service_sources():
        if "prometheus_client" in path.read_text():
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            importlib.import_module(module)
    exported: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):
        describe = getattr(collector, "describe", None)
        if describe is None:  # the process/platform/GC collectors: not the service's metrics
            continue
        labels = set(getattr(collector, "_labelnames", ()))
        for family in describe():
            base = family.name
            suffixes = {
                "counter": ["_total", "_created"],
                "gauge": [""],
                "histogram": ["_bucket", "_sum", "_count", "_created"],
                "summary": ["_sum", "_count", "_created"],
            }.get(family.type, [""])
            for suffix in suffixes:
                exported[base + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return exported


# --- what a live worker exports ---------------------------------------------------------------


@dataclass
class Exported:
    labels: dict[str, set[str]] = field(default_factory=dict)

    def add(self, text: str) -> None:
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
            if not match:
                continue
            keys = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(3) or ""))
            self.labels.setdefault(match.group(1), set()).update(keys)


@activity.defn(name="observability.emit")
async def emit_service_metrics(metrics: dict[str, str]) -> None:
    meter = activity.metric_meter()
    labels = {"partner": "acme", "feed": "customers", "outcome": "landed", "kind": "systemic"}
    for name, kind in metrics.items():
        if kind == "counter":
            meter.create_counter(name).with_additional_attributes(labels).add(1)
        elif kind == "histogram":
            meter.create_histogram_timedelta(name).with_additional_attributes(labels).record(
                timedelta(milliseconds=1500)
            )
        else:
            meter.create_gauge(name).with_additional_attributes(labels).set(1)


@activity.defn(name="observability.flaky")
async def flaky() -> str:
    if activity.info().attempt < 2:
        raise RuntimeError("first attempt fails, the retry succeeds")
    return "ok"


@workflow.defn(name="ObservabilityProbe")
class ProbeWorkflow:
    @workflow.run
    async def run(self, mode: str) -> str:
        if mode == "broken-task":
            raise RuntimeError("a bug: the workflow task fails and is retried")
        await workflow.execute_activity(
            "observability.emit",
            json.loads(workflow.memo_value("metrics", "{}", type_hint=str)),
            start_to_close_timeout=timedelta(seconds=30),
        )
        result: str = await workflow.execute_activity(
            flaky,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )
        if mode == "fail":
            raise ApplicationError("the run fails", non_retryable=True)
        return result


@pytest.fixture(scope="module")
async def exported(temporal_env: WorkflowEnvironment) -> Exported:
    port = free_port()
    runtime = telemetry.runtime_with_metrics(port)
    assert runtime is not None
    target = temporal_env.client.service_client.config.target_host
    client = await Client.connect(target, namespace=temporal_env.client.namespace, runtime=runtime)
    queue = f"observability-{uuid.uuid4().hex[:8]}"
    memo = {"metrics": json.dumps(meter_metrics())}
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ProbeWorkflow],
        activities=[emit_service_metrics, flaky],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        assert (
            await client.execute_workflow(
                "ObservabilityProbe", "ok", id=f"obs-ok-{uuid.uuid4()}", task_queue=queue, memo=memo
            )
            == "ok"
        )
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                "ObservabilityProbe",
                "fail",
                id=f"obs-fail-{uuid.uuid4()}",
                task_queue=queue,
                memo=memo,
            )
        broken = await client.start_workflow(
            "ObservabilityProbe", "broken-task", id=f"obs-bug-{uuid.uuid4()}", task_queue=queue
        )
        with pytest.raises(RPCError):  # a failed call to Temporal: temporal_request_failure
            await client.get_workflow_handle(f"no-such-{uuid.uuid4()}").describe()
        await asyncio.sleep(1.5)
        await broken.terminate("test done")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    found = Exported()
    found.add(text)
    return found


# Not the service's: the Temporal server's and Prometheus' own (tests/test_alerts_prometheus.py
# queries them live from a dev server and a real Prometheus).
SERVER_METRICS = {
    "approximate_backlog_age_seconds": {"namespace", "taskqueue", "task_type", "partition"},
    "up": {"job", "instance"},
}


# --- what the rules and the dashboard query -------------------------------------------------------

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan",
    # aggregation operators may be followed by `by (...)` instead of their parenthesis
    "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values", "limitk", "limit_ratio",
}  # fmt: skip


def metric_selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names it is filtered on) for every metric an expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings cannot hold metric names
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\boffset\s+-?[0-9smhdwy]+", "", text)  # offset 15m
    selectors: list[tuple[str, set[str]]] = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, braces, call = match.groups()
        before = text[: match.start()].rstrip()
        if call or name.lower() in PROMQL_WORDS or before.endswith(("by (", "by(")):
            continue
        if re.search(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$", before):
            continue  # a label inside by (...), on (...)
        if before.endswith(("{", ",")) and re.search(r"\{[^}]*$", before):
            continue  # a label name inside a selector
        if re.fullmatch(r"[0-9.e+-]+", name) or name.startswith("$"):
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*[!=]~?", braces or ""))
        selectors.append((name, labels))
    return selectors


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]
    return rules


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", var["query"]["query"]))
    return exprs


def test_expression_parser_finds_metrics_and_their_labels() -> None:
    expr = (
        'sum by (partner, feed) (rate(intake_files_received{outcome="quarantined", feed=~"a.*"}'
        "[1h])) / ignoring (x) group_left sum(rate(temporal_request[5m])) > 0.5"
        " or (intake_alerts > 0 unless intake_alerts offset 15m)"
    )
    assert metric_selectors(expr) == [
        ("intake_files_received", {"outcome", "feed"}),
        ("temporal_request", set()),
        ("intake_alerts", set()),
        ("intake_alerts", set()),
    ]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
async def test_every_queried_metric_is_exported_with_its_labels(
    source: str, exported: Exported
) -> None:
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    known = {**exported.labels, **prometheus_client_metrics(), **SERVER_METRICS}
    queried = [sel for expr in exprs for sel in metric_selectors(expr)]
    assert queried, f"no metric found in {source}"
    unknown = sorted({name for name, _ in queried if name not in known})
    assert not unknown, f"{source} queries metrics the service does not export: {unknown}"
    for name, labels in queried:
        missing = labels - known[name]
        assert not missing, f"{source}: {name} has no label(s) {missing} (has {known[name]})"


def test_the_sli_families_are_all_covered() -> None:
    """Freshness, on-time delivery, latency, errors, dead letters and quarantine, drift,
    workflow and activity failures, backlog, Temporal SDK: each has a rule and a panel."""
    families = {
        "freshness/on-time": "intake_files_received",
        "sla": "intake_sla_breaches",
        "latency": "intake_processing_latency_bucket",
        "quarantine/error": "intake_validation_failures",
        "drift": "intake_schema_drift",
        "workflow failures": "integrations_temporal_workflow_failed",
        "activity failures": "integrations_temporal_activity_execution_failed",
        "backlog": "approximate_backlog_age_seconds",
        "slow to start": "integrations_temporal_activity_schedule_to_start_latency_bucket",
        "dead letters": "messaging_dead_lettered_total",
        "webhooks": "webhook_inbox_oldest_unforwarded_seconds",
        "sdk": "integrations_temporal_request_failure",
    }
    in_rules = {n for r in alert_rules() for n, _ in metric_selectors(r["expr"])}
    in_board = {n for e in dashboard_exprs() for n, _ in metric_selectors(e)}
    for family, metric in families.items():
        assert metric in in_board, f"dashboard lacks {family} ({metric})"
    for metric in ("intake_sla_breaches", "intake_schema_drift",
                   "integrations_temporal_workflow_failed",
                   "integrations_temporal_activity_execution_failed",
                   "messaging_dead_lettered_total", "webhook_inbox_oldest_unforwarded_seconds",
                   "intake_processing_latency_bucket", "approximate_backlog_age_seconds",
                   "integrations_temporal_activity_schedule_to_start_latency_bucket",
                   "up"):  # fmt: skip
        assert metric in in_rules, f"no alert on {metric}"


def test_meter_metrics_are_found_in_the_code() -> None:
    found = meter_metrics()
    assert found["intake_files_received"] == "counter"
    assert found["intake_processing_latency"] == "histogram"
    assert found["intake_row_dedupe_drops"] == "counter"


# --- rule and dashboard structure -------------------------------------------------------------


def test_alert_rules_pass_promtool_and_link_runbooks() -> None:
    promtool = shutil.which("promtool")  # Debian's `prometheus` package (scripts/bootstrap)
    assert promtool, "promtool missing: run scripts/bootstrap"
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = set()
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert rule["alert"] not in names and re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
        names.add(rule["alert"])
        assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert annotations["summary"] and len(annotations["description"]) > 40, rule["alert"]
        url = annotations["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), f"{rule['alert']}: {url}"
        runbook, _, anchor = url.removeprefix(RUNBOOK_BASE).partition("#")
        text = (ROOT / "docs" / "runbooks" / runbook).read_text()
        headings = {
            re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
            for h in re.findall(r"^#+\s+(.*)$", text, flags=re.MULTILINE)
        }
        assert anchor in headings, f"{rule['alert']}: {runbook} has no section #{anchor}"


def test_event_rules_fire_on_a_series_that_just_appeared() -> None:
    """A counter read with increase() alone misses its first event when the series appears at
    1: every rule on an event counter also fires on `x > 0 unless x offset w`."""
    event_counters = {
        "intake_sla_breaches", "intake_schema_drift", "intake_alerts",
        "integrations_temporal_workflow_failed",
        "integrations_temporal_workflow_task_execution_failed", "messaging_dead_lettered_total",
    }  # fmt: skip
    for rule in alert_rules():
        read = {name for name, _ in metric_selectors(rule["expr"])} & event_counters
        expr = " ".join(rule["expr"].split())
        for metric in read:
            new_series = rf"\b{metric}(\{{[^}}]*\}})? > 0 unless {metric}\b"
            assert re.search(new_series, expr), f"{rule['alert']}: {metric}: no new-series clause"


def test_rate_rules_have_a_minimum_traffic_guard() -> None:
    for name in ("ActivityFailureRateHigh", "FeedQuarantineRateHigh", "TemporalRequestsFailing"):
        rule = next(r for r in alert_rules() if r["alert"] == name)
        assert re.search(r"\)\s*>=\s*\d+\s*$", rule["expr"].strip()), name


def test_histogram_buckets_cover_every_rule_threshold() -> None:
    """histogram_quantile never exceeds the largest finite bucket: each threshold a rule
    compares a quantile of a worker histogram with must sit below it."""
    checked = 0
    for rule in alert_rules():
        for part in " ".join(rule["expr"].split()).split("histogram_quantile(")[1:]:
            metric = re.search(r"(\w+)_bucket\b", part)
            threshold = re.search(r"\)\s*>\s*(\d+)", part)
            assert metric and threshold, rule["alert"]
            buckets = telemetry.HISTOGRAM_BUCKETS.get(metric.group(1))
            assert buckets, f"{rule['alert']}: {metric.group(1)} has the SDK's default buckets"
            assert max(buckets) > float(threshold.group(1)), f"{rule['alert']}: buckets end below"
            checked += 1
    assert checked >= 3  # IntakeLatencyHigh, TasksSlowToStart (activities, workflow tasks)


def test_dashboard_is_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
    variables = {v["name"] for v in board["templating"]["list"]}
    for expr in dashboard_exprs():
        for var in re.findall(r"\$(\w+)", expr):
            assert var.startswith("__") or var in variables, var


def test_scrape_config_names_the_jobs_the_rules_filter_on() -> None:
    """The `up` rules filter on job names: deploy/observability/prometheus.yml must produce
    them (Debian's promtool is built without Kubernetes discovery, so this is checked here)."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = set()
    for scrape in config["scrape_configs"]:
        jobs.add(scrape["job_name"])
        for relabel in scrape.get("relabel_configs", []):
            if relabel.get("target_label") == "job":
                jobs.add(relabel["replacement"].replace("$1", "worker-general"))
    assert {"temporal", "integrations-worker-general", "integrations-worker-general-app"} <= jobs
    for rule in alert_rules():
        for wanted in re.findall(r'up\{job(=~?)"([^"]+)"\}', rule["expr"]):
            op, value = wanted
            matching = [j for j in jobs if (re.fullmatch(value, j) if op == "=~" else j == value)]
            assert matching, f"{rule['alert']}: no scrape job named {value}"


def test_collector_starts_from_the_manifests_variables_without_debug_output() -> None:
    """The manifests set only INTEGRATIONS_OTLP_ENDPOINT (the collector's address): every
    variable of the collector's own config has a default, and no pipeline logs spans."""
    text = (OBSERVABILITY / "otel-collector.yaml").read_text()
    for reference in re.findall(r"\$\{env:([^}]*)\}", text):
        assert ":-" in reference, f"${{env:{reference}}} has no default"
    config = yaml.safe_load(text)
    for name, pipeline in config["service"]["pipelines"].items():
        assert not [e for e in pipeline["exporters"] if e.startswith("debug")], name
    k8s_config = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "config.yaml").read_text())
    endpoint = k8s_config["data"]["INTEGRATIONS_OTLP_ENDPOINT"]
    port = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    assert endpoint.endswith(f":{port}")
