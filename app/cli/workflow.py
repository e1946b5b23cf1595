"""``integrations workflow``: list the workflow types and start one as the HTTP API does.

``start`` validates the key (the API's ``Idempotency-Key`` rule) and the input (its wire model,
naming the failing fields, never their values), and records the request's digest in the same
memo as the API: the same key and input again is the same run (exit 0), the same key with
another input is refused (exit 1, the API's 409).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import support as cli_support
from app.cli.exit_codes import ExitCode
from runtime.settings import Settings

workflow_app = typer.Typer(
    help="Start and inspect workflows (same ids as `temporal workflow`).", no_args_is_help=True
)

_fail = cli_support.fail
_settings = cli_support.settings


@workflow_app.command("types")
def workflow_types() -> None:
    """List workflow types, their task queues and workflow-id schemes."""
    from workflows.catalog import CATALOG

    cli_support.print_table(
        ["type", "queue", "id", "what it does"],
        ([s.name, s.queue, f"{s.id_prefix}-<key>", s.summary] for s in CATALOG.values()),
    )


@workflow_app.command("start")
def workflow_start(
    workflow_type: Annotated[str, typer.Argument(help="Workflow type, e.g. Demo.")],
    key: Annotated[str, typer.Option(help="Business/idempotency key: the id is <prefix>-<key>.")],
    input_json: Annotated[
        str, typer.Option("--input", help="Input as JSON, or @file.json to read a file.")
    ],
    wait: Annotated[bool, typer.Option(help="Wait for the result and print it.")] = False,
) -> None:
    """Start a workflow with a validated input, as the HTTP API does: the same key and input
    again is the same run (exit 0), the same key with another input is refused (exit 1)."""
    spec = _workflow_spec(workflow_type)
    payload = _workflow_input(spec, key, input_json)
    settings = _settings()
    workflow_id = spec.workflow_id(key)
    result = cli_support.run(_start(spec, settings, workflow_id, payload, wait), workflow_id)
    if result is not None:
        typer.echo(json.dumps(result, indent=2))


def _workflow_spec(workflow_type: str) -> Any:
    from workflows.catalog import CATALOG

    spec = CATALOG.get(workflow_type)
    if spec is None:
        raise _fail(
            f"unknown workflow type {workflow_type!r}",
            hint=f"one of {', '.join(CATALOG)} (`integrations workflow types`)",
        )
    return spec


def _workflow_input(spec: Any, key: str, input_json: str) -> Any:
    """The validated input: a bad key is a usage error (2), a missing file 66, and an input
    that fails its wire model 65, naming the fields (never their values: they may be PII)."""
    from workflows.catalog import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE

    if not IDEMPOTENCY_KEY.match(key):
        raise _fail(f"invalid --key {key!r}", hint=f"a key is {IDEMPOTENCY_KEY_RULE}")
    return read_input(spec.name, spec.input, input_json)


def read_input(workflow_type: str, model: Any, input_json: str) -> Any:
    """``--input`` (JSON, or ``@file.json``) validated against ``model``: a file that cannot be
    read exits 66, an input that fails the model 65, naming the fields but not their values."""
    from pydantic import ValidationError

    if input_json.startswith("@"):
        path = Path(input_json[1:])
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise _fail(
                f"cannot read --input file {path}: {why}", ExitCode.NO_INPUT, "check the path"
            ) from None
    else:
        raw = input_json
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        fields = cli_support.invalid_fields(exc)
        hint = f"the input's schema is wire/json_schemas/ ({model.__name__})"
        message = f"invalid input for {workflow_type}: {fields}"
        raise _fail(message, ExitCode.DATA_ERROR, hint) from None


async def _start(spec: Any, settings: Settings, workflow_id: str, payload: Any, wait: bool) -> Any:
    from workers.runner import task_queue

    client = await cli_support.temporal_client(settings)
    queue = task_queue(settings, spec.queue)
    handle = await start_once(client, spec.name, workflow_id, payload, queue)
    return await result_of(handle) if wait else None


async def start_once(
    client: Any, workflow_type: str, workflow_id: str, payload: Any, queue: str
) -> Any:
    """Start the run, or find the one this very request started before: prints ``started`` or
    ``already started``; the same id with another input exits 1 (the HTTP API's 409)."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from workflows.catalog import REQUEST_DIGEST_MEMO, request_digest

    digest = request_digest(payload)  # the HTTP API's digest: the same request either way
    try:
        handle = await client.start_workflow(
            workflow_type,
            payload,
            id=workflow_id,
            task_queue=queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={REQUEST_DIGEST_MEMO: digest},
        )
        typer.echo(f"started {workflow_id}")
        return handle
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id)
    existing = await handle.describe()
    if await existing.memo_value(REQUEST_DIGEST_MEMO, default=None) != digest:
        raise _fail(
            f"{workflow_id} was already started with another input",
            ExitCode.REFUSED,
            "an id starts one run: use another key, or the same input to get that run",
        )
    typer.echo(f"already started: {workflow_id}")
    return handle


async def result_of(handle: Any) -> Any:
    """The run's result as JSON-ready data, with a progress line while it takes long."""
    async with cli_support.waiting(f"waiting for {handle.id} to finish"):
        result = await handle.result()
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else result
