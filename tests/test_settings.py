"""Settings: env and secret files; a missing or malformed one is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings import Settings, SettingsError, load_settings


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("INTEGRATIONS_")}


def test_missing_setting_is_one_line_exit_2() -> None:
    result = _cli("worker", "--queue", "general", env=_clean_env())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "INTEGRATIONS_DATABASE_URL" in lines[0]


def test_malformed_setting_is_one_line_exit_2() -> None:
    env = {**_clean_env(), "INTEGRATIONS_API_PORT": "eighty"}
    result = _cli("api", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting INTEGRATIONS_API_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_unreadable_key_file_names_the_setting() -> None:
    env = {**_clean_env(), "INTEGRATIONS_CODEC_KEYS_FILE": "/nonexistent/keys.json"}
    result = _cli("codec-server", env=env)
    assert result.returncode == 2
    assert "INTEGRATIONS_CODEC_KEYS_FILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secrets_come_from_mounted_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Files are named like the variables (case-insensitive), as Kubernetes secret keys are.
    (tmp_path / "INTEGRATIONS_API_TOKEN").write_text("from-a-file")
    monkeypatch.setenv("INTEGRATIONS_SECRETS_DIR", str(tmp_path))
    # secrets_dir is read when the class is built, as it is at process start.
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.require("api_token") == "from-a-file"
    assert "from-a-file" not in repr(settings)


def test_require_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^missing setting INTEGRATIONS_API_TOKEN$"):
        Settings().require("api_token")


def test_cors_origins_from_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEGRATIONS_CODEC_CORS_ORIGINS", "http://a:1, http://b:2")
    assert load_settings().codec_cors_origins == ["http://a:1", "http://b:2"]
