"""deploy/k8s/, checked offline against the Kubernetes API schemas and against the code.

Every manifest (``base/`` and each rendered environment) validates with ``kubernetes-validate``
for a pinned Kubernetes version; the custom resources (KEDA, External Secrets) validate against
the strict schemas in ``deploy/k8s/crd-schemas/``. Then the manifests are held to the code: each
container runs a real ``integrations`` command, each ``INTEGRATIONS_*`` name is a Settings field
(secrets only as mounted files), each process gets the settings its command requires, probes hit
routes the apps serve on the ports the settings name, workers outlive their longest heartbeat on
SIGTERM, and KEDA scales each worker on the task queue it actually polls.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import typer.main
from pydantic import SecretStr

from app.cli.main import app
from runtime.settings import ENV_PREFIX, Settings
from workers.runner import QUEUES, run_workers
from workflows.catalog import workflows_for

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
CRD_SCHEMAS = K8S / "crd-schemas"
# The oldest Kubernetes minor still in upstream support when these manifests were written.
KUBERNETES_VERSION = "1.33.0"
APP_IMAGE = "enterprise-integrations"
SECRETS_DIR = "/var/run/secrets/integrations"
POD_KINDS = {"Deployment", "Job"}

sys.path.insert(0, str(K8S))
import render  # noqa: E402 - deploy/k8s/render.py, loaded from its folder

Manifest = dict[str, Any]


def _files() -> list[Path]:
    return sorted((K8S / "base").glob("*.yaml")) + sorted((K8S / "rendered").glob("*.yaml"))


def _docs(path: Path) -> list[Manifest]:
    return render.load_documents(path)


def _rendered_envs() -> list[str]:
    return render.environments()


def _env_bundle(env: str) -> list[Manifest]:
    return _docs(K8S / "rendered" / f"{env}.yaml") + _docs(K8S / "rendered" / f"{env}-migrate.yaml")


def _pods(bundle: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in bundle:
        if doc["kind"] in POD_KINDS:
            yield doc["metadata"]["name"], doc["spec"]["template"]


def _app_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in pod["spec"]["containers"] if c["image"].split("/")[-1].startswith(APP_IMAGE)]


def _find(bundle: list[Manifest], kind: str, name: str) -> Manifest:
    for doc in bundle:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name}")


def _config(bundle: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = _find(bundle, "ConfigMap", "integrations-config")["data"]
    return data


def _container_env(bundle: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(_find(bundle, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        assert "valueFrom" not in item, f"{item['name']}: secrets are files, not env values"
        env[item["name"]] = str(item["value"])
    return env


def _secret_keys(bundle: list[Manifest], secret: str) -> list[str]:
    external = _find(bundle, "ExternalSecret", secret)
    return [item["secretKey"] for item in external["spec"].get("data", [])]


def _projected_secrets(pod: dict[str, Any], mount_path: str) -> list[str]:
    container = pod["spec"]["containers"][0]
    volume_name = next(
        (m["name"] for m in container["volumeMounts"] if m["mountPath"] == mount_path), None
    )
    if volume_name is None:
        return []
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == volume_name)
    return [source["secret"]["name"] for source in volume["projected"]["sources"]]


def _args(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in container["args"]]


# --- schemas ----------------------------------------------------------------------------------


def test_rendered_environments_are_fresh() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in render.outputs().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `python deploy/k8s/render.py`: stale {stale}"
    assert {"staging", "production"} <= set(_rendered_envs())


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates(path: Path) -> None:
    docs = _docs(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        schema_file = CRD_SCHEMAS / f"{doc['apiVersion'].replace('/', '_')}_{doc['kind']}.json"
        if "." in doc["apiVersion"].split("/")[0] and not doc["apiVersion"].endswith(".k8s.io/v1"):
            # A custom resource: its operator's schema, strict.
            assert schema_file.exists(), f"no schema for {doc['apiVersion']} {doc['kind']}"
            jsonschema.validate(doc, json.loads(schema_file.read_text()))
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_crd_schemas_reject_a_misspelt_field() -> None:
    doc = _find(_docs(K8S / "base" / "keda.yaml"), "ScaledObject", "worker-sftp")
    schema = json.loads((CRD_SCHEMAS / "keda.sh_v1alpha1_ScaledObject.json").read_text())
    broken = {**doc, "spec": {**doc["spec"], "maxReplicas": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    with pytest.raises(kubernetes_validate.ValidationError):
        deployment = _find(_docs(K8S / "base" / "api.yaml"), "Deployment", "api")
        kubernetes_validate.validate(
            {**deployment, "spec": {**deployment["spec"], "replica": 2}}, KUBERNETES_VERSION, True
        )


def test_overlay_patches_merge_by_name_and_delete_with_null() -> None:
    base = {"spec": {"a": 1, "b": 2, "items": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}}
    patch = {"spec": {"b": None, "items": [{"name": "y", "v": 3}, {"name": "z", "v": 4}]}}
    assert render.merge(base, patch) == {
        "spec": {
            "a": 1,
            "items": [{"name": "x", "v": 1}, {"name": "y", "v": 3}, {"name": "z", "v": 4}],
        }
    }
    assert base["spec"]["b"] == 2, "inputs are not modified"


# --- pods: security, commands, settings, probes ------------------------------------------------


@pytest.mark.parametrize("env", _rendered_envs())
def test_pods_run_non_root_read_only_without_capabilities(env: str) -> None:
    bundle = _env_bundle(env)
    names = set()
    for name, pod in _pods(bundle):
        names.add(name)
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            c = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert c["readOnlyRootFilesystem"] is True, where
            assert c["allowPrivilegeEscalation"] is False, where
            assert c["capabilities"] == {"drop": ["ALL"]}, where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"]["memory"], where
            # HOME and GNUPGHOME point at /tmp in the image: it must be writable.
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), where
    assert {"worker-general", "worker-sftp", "api", "codec-server", "migrate"} <= names
    namespace = _docs(K8S / "rendered" / f"{env}.yaml")[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _cli_command(argv: list[str]) -> tuple[list[str], Any]:
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    while getattr(command, "commands", None) is not None:
        assert argv, f"`integrations {' '.join(path)}` needs a subcommand"
        word, argv = argv[0], argv[1:]
        assert word in command.commands, f"`{word}` is not an `integrations` command"
        command, path = command.commands[word], [*path, word]
    command.make_context(" ".join(["integrations", *path]), list(argv))  # parses the options
    return path, command


@pytest.mark.parametrize("env", _rendered_envs())
def test_containers_run_real_cli_commands_one_worker_per_queue(env: str) -> None:
    bundle = _env_bundle(env)
    images = set()
    polled: dict[str, list[str]] = {}
    for name, pod in _pods(bundle):
        for container in _app_containers(pod):
            assert "command" not in container, f"{name}: keep the image's `integrations` entrypoint"
            argv = _args(container)
            path, _ = _cli_command(argv)
            images.add(container["image"])
            if path == ["worker"]:
                polled[name] = [argv[i + 1] for i, a in enumerate(argv) if a == "--queue"]
        for init in pod["spec"].get("initContainers", []):
            # The only helper: importing PGP keys into the sftp worker's writable gpg home.
            assert name == "worker-sftp" and "gpg" in " ".join(init["args"]), name
    assert all(len(queues) == 1 for queues in polled.values()), polled
    assert sorted(q for queues in polled.values() for q in queues) == sorted(QUEUES), polled
    assert len(images) == 1, f"one image for every process, got {images}"
    tag = images.pop().rsplit(":", 1)[-1]
    assert tag and tag != "latest"


@pytest.mark.parametrize("env", _rendered_envs())
def test_environment_names_are_settings_fields_and_never_secrets(env: str) -> None:
    bundle = _env_bundle(env)
    fields = Settings.model_fields
    secret_fields = {name for name, field in fields.items() if "SecretStr" in str(field.annotation)}
    for name, pod in _pods(bundle):
        for container in _app_containers(pod):
            values = _container_env(bundle, container)
            settings = {}
            for key, value in values.items():
                assert key.startswith(ENV_PREFIX), f"{name}: {key} is not a setting"
                field = key.removeprefix(ENV_PREFIX).lower()
                if field == "secrets_dir":
                    assert value == SECRETS_DIR, name
                    continue
                assert field in fields, f"{name}: {key} is not a field of Settings"
                assert field not in secret_fields, f"{name}: {key} is a secret: mount it as a file"
                settings[field] = value
            Settings.model_validate(settings)  # types and ranges hold


@pytest.mark.parametrize("env", _rendered_envs())
def test_secret_files_are_secret_settings_and_every_secret_is_defined(env: str) -> None:
    bundle = _env_bundle(env)
    fields = Settings.model_fields
    defined = {d["spec"]["target"]["name"] for d in bundle if d["kind"] == "ExternalSecret"}
    used: set[str] = set()
    for name, pod in _pods(bundle):
        for secret in _projected_secrets(pod, SECRETS_DIR):
            used.add(secret)
            assert secret in defined, f"{name} mounts undefined secret {secret}"
            for key in _secret_keys(bundle, secret):
                field = key.removeprefix(ENV_PREFIX).lower()
                assert key.startswith(ENV_PREFIX) and field in fields, f"{secret}: {key}"
                annotation = str(fields[field].annotation)
                assert "SecretStr" in annotation, f"{secret}: {key} is not a secret setting"
        for volume in pod["spec"]["volumes"]:
            if "secret" in volume:
                used.add(volume["secret"]["secretName"])
                assert volume["secret"]["secretName"] in defined, name
    for doc in bundle:
        if doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"]["secretTargetRef"]:
                used.add(ref["name"])
                assert ref["name"] in defined
    assert used == defined, f"defined but unused secrets: {defined - used}"


# What each command requires before it does anything (app/cli/main.py); checked below by
# loading Settings in a fresh process from the pod's env and a secrets folder laid out as the
# pod mounts it.
REQUIRED = {
    "worker": ["database_url"],
    "api": ["api_token", "database_url"],
    "codec-server": ["codec_server_token"],
    "migrate": ["database_owner_url"],
}
NEEDS_KEY_RING = {"worker", "api", "codec-server"}
PROBE = """
import json, sys
from runtime.settings import load_settings
from adapters.temporal_client import key_ring_from
wanted = json.loads(sys.argv[1])
s = load_settings()
for name in wanted["required"]:
    s.require(name)
if wanted["key_ring"]:
    key_ring_from(s)
print(json.dumps({k: str(getattr(s, k)) for k in wanted["report"]}))
"""


@pytest.mark.parametrize("env", _rendered_envs())
def test_each_process_gets_the_settings_its_command_requires(env: str, tmp_path: Path) -> None:
    from adapters.payload_codec import KeyRing

    bundle = _env_bundle(env)
    ring = KeyRing.generate("k1").to_json()
    for name, pod in _pods(bundle):
        container = _app_containers(pod)[0]
        command = _args(container)[0]
        folder = tmp_path / name
        folder.mkdir()
        for secret in _projected_secrets(pod, SECRETS_DIR):
            for key in _secret_keys(bundle, secret):
                value = ring if key.endswith("CODEC_KEYS") else f"value-of-{key.lower()}"
                (folder / key).write_text(value)
        env_vars = {**_container_env(bundle, container), f"{ENV_PREFIX}SECRETS_DIR": str(folder)}
        wanted = {
            "required": REQUIRED[command]
            + (["pii_lookup_key"] if name == "worker-general" else []),
            "key_ring": command in NEEDS_KEY_RING,
            "report": ["sftp_keys_dir", "gnupg_home", "metrics_port"],
        }
        result = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(wanted)],
            env={"PATH": "/usr/bin:/bin", **env_vars},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stderr.strip().splitlines()[-1:]}"
        report = json.loads(result.stdout)
        if name == "worker-sftp":
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert report["sftp_keys_dir"] in mounts and report["gnupg_home"] in mounts
        if command == "worker":
            assert report["metrics_port"] != "None", f"{name}: probes need the metrics port"


def _routes(command: str) -> set[str]:
    from adapters.payload_codec import KeyRing
    from app.api.server import create_app as create_api
    from app.codec_server import create_app as create_codec

    if command == "api":
        settings = Settings(api_token=SecretStr("t"), database_url=SecretStr("postgresql://x"))
        application = create_api(settings, client_factory=None, pool_factory=None)  # type: ignore[arg-type]
    else:
        application = create_codec(KeyRing.generate("k1"), "t", ["https://ui"])
    return _paths(application.routes)


def _paths(routes: list[Any]) -> set[str]:
    """Every served path; FastAPI keeps an included router (no prefix here) as one entry."""
    found: set[str] = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            found |= _paths(included.routes)
        elif getattr(route, "path", None):
            found.add(route.path)
    return found


@pytest.mark.parametrize("env", _rendered_envs())
def test_probes_hit_served_routes_on_the_configured_ports(env: str) -> None:
    bundle = _env_bundle(env)
    port_setting = {
        "worker": "METRICS_PORT",
        "api": "API_PORT",
        "codec-server": "CODEC_SERVER_PORT",
    }
    for name, pod in _pods(bundle):
        container = _app_containers(pod)[0]
        command = _args(container)[0]
        if command == "migrate":
            assert "livenessProbe" not in container
            continue
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        configured = int(_container_env(bundle, container)[ENV_PREFIX + port_setting[command]])
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert ports[get["port"]] == configured, f"{name} {probe} port"
            if command != "worker":
                assert get["path"] in _routes(command), f"{name} {probe}: no route {get['path']}"
            else:
                assert get["path"] == "/metrics"  # the Temporal runtime's Prometheus endpoint
        if command == "api":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for doc in bundle:
        if doc["kind"] == "Service":
            target = _find(
                bundle, "Deployment", doc["spec"]["selector"]["app.kubernetes.io/component"]
            )
            names = {
                p["name"]
                for c in target["spec"]["template"]["spec"]["containers"]
                for p in c["ports"]
            }
            assert all(p["targetPort"] in names for p in doc["spec"]["ports"]), doc["metadata"]


def _longest_heartbeat() -> timedelta:
    """The longest ``heartbeat_timeout`` (or ``heartbeat=`` passed through) in workflows/."""
    longest = timedelta(0)
    for source in (ROOT / "workflows").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.keyword) or node.arg not in {
                "heartbeat_timeout",
                "heartbeat",
            }:
                continue
            call = node.value
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "timedelta":
                kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
                longest = max(longest, timedelta(**kwargs))
    return longest


@pytest.mark.parametrize("env", _rendered_envs())
def test_workers_outlive_their_longest_heartbeat_on_sigterm(env: str) -> None:
    longest = _longest_heartbeat()
    assert longest >= timedelta(minutes=2), "file activities heartbeat with minutes of timeout"
    graceful = inspect.signature(run_workers).parameters["graceful_shutdown_seconds"].default
    for name, pod in _pods(_env_bundle(env)):
        if _args(_app_containers(pod)[0])[0] == "worker":
            grace = pod["spec"]["terminationGracePeriodSeconds"]
            assert grace > longest.total_seconds() + graceful, (name, grace, longest, graceful)


# --- scaling, disruption, network ------------------------------------------------------------


@pytest.mark.parametrize("env", _rendered_envs())
def test_keda_scales_each_worker_on_the_queue_it_polls(env: str) -> None:
    bundle = _env_bundle(env)
    config = _config(bundle)
    auths = {d["metadata"]["name"] for d in bundle if d["kind"] == "TriggerAuthentication"}
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in bundle if d["kind"] == "ScaledObject"}
    for name, pod in _pods(bundle):
        argv = _args(_app_containers(pod)[0])
        if argv[0] != "worker":
            continue
        queue = argv[argv.index("--queue") + 1]
        obj = scaled.pop(name, None)
        assert obj is not None, f"no ScaledObject for {name}"
        assert obj["spec"]["minReplicaCount"] >= 1, "queries need a live worker"
        assert obj["spec"]["maxReplicaCount"] > obj["spec"]["minReplicaCount"]
        (trigger,) = obj["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "temporal"
        assert trigger["authenticationRef"]["name"] in auths
        assert meta["taskQueue"] == config[f"{ENV_PREFIX}TASK_QUEUE_{queue.upper()}"]
        assert meta["namespace"] == config[f"{ENV_PREFIX}TEMPORAL_NAMESPACE"]
        assert meta["endpoint"] == config[f"{ENV_PREFIX}TEMPORAL_ADDRESS"]
        types = set(meta["queueTypes"].split(","))
        # Workflow tasks wait on a queue only if some workflow is registered there.
        assert ("workflow" in types) == bool(workflows_for(queue)), (queue, types)  # type: ignore[arg-type]
        assert "activity" in types
        deployment = _find(bundle, "Deployment", name)
        assert deployment["spec"]["replicas"] >= 1
    assert not scaled, f"ScaledObjects without a worker: {list(scaled)}"


@pytest.mark.parametrize("env", _rendered_envs())
def test_every_deployment_has_a_pdb_that_lets_a_drain_proceed(env: str) -> None:
    bundle = _env_bundle(env)
    pdbs = [d for d in bundle if d["kind"] == "PodDisruptionBudget"]
    for doc in bundle:
        if doc["kind"] != "Deployment":
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        covering = [
            p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, doc["metadata"]["name"]
        spec = covering[0]["spec"]
        if "minAvailable" in spec:
            assert doc["spec"]["replicas"] > spec["minAvailable"], doc["metadata"]["name"]
        else:
            assert spec["maxUnavailable"] >= 1


@pytest.mark.parametrize("env", _rendered_envs())
def test_network_policy_allows_only_dns_temporal_postgres_partners_and_traces(env: str) -> None:
    bundle = _env_bundle(env)
    policies = [d for d in bundle if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if not p["spec"].get("egress") and not p["spec"].get("ingress")]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    allowed = {53: "dns", 7233: "temporal", 5432: "postgres", 22: "partner sftp", 4318: "otlp"}
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            ports = {p["port"] for p in rule["ports"]}
            assert ports <= set(allowed), (policy["metadata"]["name"], ports)
            if 22 in ports:
                selector = policy["spec"]["podSelector"]["matchLabels"]
                assert selector == {"integrations/partner-sftp-client": "true"}
    # Pods reach what their process talks to, and nothing else.
    for name, pod in _pods(bundle):
        labels = pod["metadata"]["labels"]
        command = _args(_app_containers(pod)[0])[0]
        talks_temporal = command in {"worker", "api"}
        assert (labels.get("integrations/temporal-client") == "true") == talks_temporal, name
        assert (labels.get("integrations/postgres-client") == "true") == (command != "codec-server")
        assert (labels.get("integrations/partner-sftp-client") == "true") == (name == "worker-sftp")


def test_search_attribute_script_registers_every_attribute_in_the_code() -> None:
    from temporalio.common import SearchAttributeKey

    from wire.search_attributes import ALL

    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "temporal" / "search_attributes.py"),
            "--namespace",
            "integrations",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert len(out) == len(ALL)
    for key, line in zip(ALL, out, strict=True):
        assert isinstance(key, SearchAttributeKey)
        assert f"--name {key.name} " in line and "--namespace integrations" in line
