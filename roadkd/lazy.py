"""Names a package exports but imports only when first used (light packages, fast ``--help``)."""

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each public name from its submodule on first use.

    Args:
        package: the package's ``__name__``.
        where: public name -> the submodule (relative to the package) that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f".{where[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
