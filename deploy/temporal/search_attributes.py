"""Print the commands that register the workflows' custom search attributes on a cluster.

The list comes from ``wire/search_attributes.py`` (the code that sets them), never a copy:

    python deploy/temporal/search_attributes.py --namespace integrations | sh

Temporal Cloud: ``tcld namespace search-attributes add`` takes the same names and types, or run
the printed ``temporal`` commands with ``--api-key``/``--tls-*`` options. Registering an
attribute that exists fails harmlessly, so the script is safe to re-run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from wire.search_attributes import dev_server_flags  # after the path fix


def commands(namespace: str) -> list[str]:
    return [
        "temporal operator search-attribute create "
        f"--namespace {shlex.quote(namespace)} --name {name} --type {kind}"
        for name, kind in dev_server_flags().items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="integrations")
    args = parser.parse_args()
    print("\n".join(commands(args.namespace)))


if __name__ == "__main__":
    main()
