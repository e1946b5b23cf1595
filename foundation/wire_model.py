"""Wire models: the versioned pydantic models that cross Temporal, the API and Azure messaging
(workflow, signal, update and activity inputs and results, published events), and their registry.

"Contract" in this code base means a partner's *file* contract; what travels between our own
processes is a wire model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[WireModel]] = {}


class WireModel(BaseModel):
    """A versioned model. Unknown fields are ignored, so an older worker can still read a payload
    that a newer client wrote with an added optional field."""

    model_config = ConfigDict(extra="ignore")

    wire_name: ClassVar[str] = ""
    wire_version: ClassVar[str] = ""  # "MAJOR.MINOR"; MAJOR changes on a breaking change

    @classmethod
    def major_version(cls) -> int:
        return int(cls.wire_version.split(".")[0])


C = TypeVar("C", bound=type[WireModel])


def wire_model(name: str, version: str) -> Callable[[C], C]:
    """Register ``cls`` as wire model ``name`` at ``version`` ("MAJOR.MINOR")."""
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"wire model {name}: version must be MAJOR.MINOR, got {version!r}")

    def register(cls: C) -> C:
        key = f"{name}@{major}"
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"wire model {key} registered twice")
        cls.wire_name = name
        cls.wire_version = version
        _REGISTRY[key] = cls
        return cls

    return register


def all_wire_models() -> dict[str, type[WireModel]]:
    """Every registered wire model, keyed ``name@major``. Importing ``wire.registered`` first
    makes sure every module that defines wire models has registered them."""
    return dict(_REGISTRY)
