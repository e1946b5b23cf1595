"""docker-compose.yml, the Dockerfile and deploy/compose/, checked without a Docker engine.

Debian's ``docker-compose`` (1.29) validates and renders a compose file offline; the rendered
YAML (with the example env file, so every ``${...}`` resolves) is then checked against the code:
each application command is a real ``integrations`` CLI command with valid options, each
``INTEGRATIONS_*`` variable is a field of :class:`runtime.settings.Settings`, and every
service is either health-checked or a one-shot that others wait for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml  # type: ignore[import-untyped]  # no stubs pinned; PyYAML is a dev-only test aid

from app.cli.main import app
from devstack.localstack.postgres import APP_ROLE, OWNER_ROLE
from runtime.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "compose" / "env.example"
INIT_SQL = ROOT / "deploy" / "compose" / "postgres-init.sql"

SETTING_NAME = re.compile(r"\b" + ENV_PREFIX + r"[A-Z0-9_]+\b")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|CODEC_KEYS|DATABASE_(OWNER_)?URL|API_KEY|SECRET")
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(
            "docker-compose is not installed (Debian package `docker-compose`, 1.29; "
            ".ci/run installs it): cannot validate docker-compose.yml"
        )
    return binary


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    return names


def _compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    # A clean environment: the caller's INTEGRATIONS_* (or a stray .env) must not leak into the
    # interpolation, so the env file alone decides what resolves.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INTEGRATIONS_", "COMPOSE_", "DOCKER_"))
        and key not in _env_example_names()
    }
    return subprocess.run(
        [
            _docker_compose(),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE_FILE),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors merged, variables filled)."""
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def services(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = rendered["services"]
    return found


def _app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services built from the project's Dockerfile: they all run the `integrations` CLI."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def _as_argv(command: str | list[str]) -> list[str]:
    return command.split() if isinstance(command, str) else [str(part) for part in command]


# --- validity ---------------------------------------------------------------------------------


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


def test_a_missing_secret_stops_compose_with_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "in .env" in result.stderr, result.stderr


# --- the application services ----------------------------------------------------------------


def test_application_services_are_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    apps = _app_services(services)
    expected = {"migrate", "worker-general", "worker-sftp", "api", "codec-server"}
    assert expected <= set(apps), f"missing application services: {expected - set(apps)}"
    images = set()
    for name, svc in apps.items():
        assert Path(svc["build"]["context"]).resolve() == ROOT, name
        assert svc["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert svc.get("read_only") is True, f"{name}: root filesystem should be read-only"
        assert any(str(t).split(":")[0] == "/tmp" for t in svc.get("tmpfs", [])), name
        images.add(svc["image"])
    assert len(images) == 1, f"application services should share one image, got {images}"


def test_every_application_command_is_a_real_cli_command(
    services: dict[str, dict[str, Any]],
) -> None:
    # Typer 0.29 vendors click, so commands are recognised by shape, not by click's classes.
    root = typer.main.get_command(app)
    for name, svc in _app_services(services).items():
        assert svc.get("entrypoint") is None, f"{name}: keep the image's `integrations` entrypoint"
        argv = _as_argv(svc["command"])
        command: Any = root
        path = ["integrations"]
        while getattr(command, "commands", None) is not None:
            assert argv, f"{name}: `{' '.join(path)}` needs a subcommand"
            word, argv = argv[0], argv[1:]
            sub = command.commands.get(word)
            assert sub is not None, (
                f"{name}: `{word}` is not a command of `{' '.join(path)}` "
                f"(choose from {sorted(command.commands)})"
            )
            command, path = sub, [*path, word]
        # Parse (without running) the remaining arguments: unknown options or values fail here.
        try:
            command.make_context(" ".join(path), list(argv))
        except Exception as exc:
            formatter = getattr(exc, "format_message", None)
            message = formatter() if callable(formatter) else str(exc)
            pytest.fail(f"{name}: `{' '.join(path)} {' '.join(argv)}`: {message}")


def test_workers_cover_every_task_queue(services: dict[str, dict[str, Any]]) -> None:
    from workers.runner import QUEUES

    polled: list[str] = []
    for svc in _app_services(services).values():
        argv = _as_argv(svc["command"])
        if argv[:1] == ["worker"]:
            polled += [argv[i + 1] for i, arg in enumerate(argv) if arg == "--queue"]
    assert sorted(polled) == sorted(set(polled)), f"a queue is polled by two services: {polled}"
    assert set(polled) == set(QUEUES), f"worker services poll {polled}, the code has {QUEUES}"


def test_integrations_variables_are_settings_fields(
    services: dict[str, dict[str, Any]],
) -> None:
    fields = set(Settings.model_fields)
    # Everywhere a name can appear: compose keys and ${...} references, the example env file,
    # and the Dockerfile's ENV defaults.
    used: dict[str, set[str]] = {}
    for source in (COMPOSE_FILE, ENV_EXAMPLE, DOCKERFILE):
        for name in SETTING_NAME.findall(source.read_text()):
            used.setdefault(name, set()).add(source.name)
    for svc_name, svc in services.items():
        for name in svc.get("environment") or {}:
            if name.startswith(ENV_PREFIX):
                used.setdefault(name, set()).add(f"service {svc_name}")
    assert used, "expected INTEGRATIONS_* settings in docker-compose.yml"
    unknown = {
        name: sorted(where)
        for name, where in used.items()
        if name.removeprefix(ENV_PREFIX).lower() not in fields
    }
    assert not unknown, f"not fields of runtime.settings.Settings: {unknown}"


def test_rendered_settings_are_valid(services: dict[str, dict[str, Any]]) -> None:
    """Each service's INTEGRATIONS_* values parse as Settings (types, ranges, log level)."""
    for name, svc in _app_services(services).items():
        env = {
            key.removeprefix(ENV_PREFIX).lower(): value
            for key, value in (svc.get("environment") or {}).items()
            if key.startswith(ENV_PREFIX) and key != f"{ENV_PREFIX}SECRETS_DIR"
        }
        try:
            Settings.model_validate(env)
        except Exception as exc:
            pytest.fail(f"{name}: {exc}")


# --- health and start order -------------------------------------------------------------------


def _one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    waited_for = {
        dep
        for svc in services.values()
        for dep, spec in (svc.get("depends_on") or {}).items()
        if isinstance(spec, dict) and spec.get("condition") == COMPLETED
    }
    return {name for name in waited_for if services[name].get("restart", "no") == "no"}


def test_every_service_has_a_healthcheck_or_is_a_one_shot(
    services: dict[str, dict[str, Any]],
) -> None:
    one_shots = _one_shots(services)
    assert "migrate" in one_shots
    for name, svc in services.items():
        if name in one_shots:
            assert "healthcheck" not in svc, f"{name}: a one-shot needs no healthcheck"
            continue
        check = svc.get("healthcheck")
        assert check, f"{name}: no healthcheck and not a one-shot"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, f"{name}: {test}"


def test_http_healthchecks_use_python_not_curl(services: dict[str, dict[str, Any]]) -> None:
    # python:3.11-slim has no curl or wget.
    for name, svc in _app_services(services).items():
        if name in _one_shots(services):
            continue
        test = " ".join(svc["healthcheck"]["test"])
        assert "curl" not in test and "wget" not in test, name
        assert "python" in test and "urllib" in test, name
    for name in ("api", "codec-server"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"]), name


def test_depends_on_waits_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec.get("condition") if isinstance(spec, dict) else None
            assert condition in {HEALTHY, COMPLETED}, f"{name} -> {dep}: {condition}"
            if condition == HEALTHY:
                assert services[dep].get("healthcheck"), f"{name} waits on {dep}'s health"
    for name in ("worker-general", "worker-sftp", "api"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == COMPLETED, name
        assert deps["temporal"]["condition"] == HEALTHY, name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == HEALTHY


def test_temporal_uses_postgresql_and_the_ui_uses_the_codec_server(
    services: dict[str, dict[str, Any]],
) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    assert temporal["environment"]["DB"].startswith("postgres")
    seeds = temporal["environment"]["POSTGRES_SEEDS"]
    assert services[seeds]["image"].startswith("postgres:15"), seeds
    assert "cluster health" in " ".join(temporal["healthcheck"]["test"])
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    endpoint = ui["environment"]["TEMPORAL_CODEC_ENDPOINT"]
    codec = services["codec-server"]
    published = {str(port).split(":")[-1].split("/")[0] for port in codec["ports"]}
    assert endpoint.rsplit(":", 1)[-1].rstrip("/") in published, (endpoint, codec["ports"])
    origins = codec["environment"]["INTEGRATIONS_CODEC_CORS_ORIGINS"]
    assert ui["environment"]["TEMPORAL_CORS_ORIGINS"] in origins


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: pin {image} to a version"


# --- secrets and the database bootstrap -------------------------------------------------------


def test_no_secret_is_written_into_the_compose_file() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert "${" in str(value), f"{name}.{key} must come from .env, not the file"


def test_env_example_holds_placeholders_only() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if SECRET_NAME.search(key):
            assert "replace" in value.lower(), f"{key} in env.example must be a placeholder"
    # Every variable the compose file requires (${X:?...}) is documented in the example.
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    assert required <= _env_example_names(), required - _env_example_names()


def test_postgres_init_script_creates_the_roles_and_database(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = [str(v) for v in services["postgres"].get("volumes", [])]
    source = next((m.split(":")[0] for m in mounts if "docker-entrypoint-initdb.d" in m), None)
    assert source is not None, "postgres must mount the init script"
    assert Path(source).resolve() == INIT_SQL
    sql = INIT_SQL.read_text()
    for role in (OWNER_ROLE, APP_ROLE):
        assert re.search(rf"CREATE ROLE {role} LOGIN PASSWORD :'\w+'", sql), role
    assert "CREATE DATABASE integrations OWNER integrations_owner" in sql
    assert "\\getenv" in sql and "PASSWORD '" not in sql, "passwords come from the environment"
    # The DSNs the services use name the same roles and database.
    owner_url = services["migrate"]["environment"]["INTEGRATIONS_DATABASE_OWNER_URL"]
    assert owner_url.startswith(f"postgresql://{OWNER_ROLE}:") and owner_url.endswith(
        "@postgres:5432/integrations"
    )
    app_url = services["api"]["environment"]["INTEGRATIONS_DATABASE_URL"]
    assert app_url.startswith(f"postgresql://{APP_ROLE}:"), app_url


# --- the Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_builds_a_non_root_image_with_the_cli_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert len(froms) >= 2, "multi-stage build expected"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, flags=re.MULTILINE)
    assert base and base.group(1).startswith("python:3.11-slim")
    assert re.search(r"\bpip install \.", text)
    assert 'ENTRYPOINT ["integrations"]' in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}, users
    ignored = set(DOCKERIGNORE.read_text().split())
    assert {".venv", ".dev", ".git", ".env"} <= ignored
