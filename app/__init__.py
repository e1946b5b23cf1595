"""Service plumbing: settings, Temporal client and codec, database, logging, API and CLI.

Domain logic lives in its own packages (``contracts``, ``intake``, ...); this package only wires
them to the outside world.
"""
