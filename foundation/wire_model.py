"""The base class and registry of data contracts."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[Contract]] = {}


class Contract(BaseModel):
    """A versioned model. Unknown fields are ignored, so an older worker can still read a payload
    that a newer client wrote with an added optional field."""

    model_config = ConfigDict(extra="ignore")

    contract_name: ClassVar[str] = ""
    contract_version: ClassVar[str] = ""  # "MAJOR.MINOR"; MAJOR changes on a breaking change

    @classmethod
    def major_version(cls) -> int:
        return int(cls.contract_version.split(".")[0])


C = TypeVar("C", bound=type[Contract])


def contract(name: str, version: str) -> Callable[[C], C]:
    """Register ``cls`` as contract ``name`` at ``version`` ("MAJOR.MINOR")."""
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"contract {name}: version must be MAJOR.MINOR, got {version!r}")

    def register(cls: C) -> C:
        key = f"{name}@{major}"
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"contract {key} registered twice")
        cls.contract_name = name
        cls.contract_version = version
        _REGISTRY[key] = cls
        return cls

    return register


def all_contracts() -> dict[str, type[Contract]]:
    """Every registered contract, keyed ``name@major``. Importing ``wire.registered`` first
    makes sure every module that defines contracts has registered them."""
    return dict(_REGISTRY)
