"""Old import paths of modules that moved into core/, hooks/ and testing/ keep working, with a warning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forward(old: str, *new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the old module ``old``: each name is found in the ``new`` modules,
    and its first use warns (``DeprecationWarning``) naming the module to import it from instead."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for module_name in new:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                warnings.warn(
                    f"{old} moved: import {name} from {module_name} instead "
                    f"(the old path will be removed in a later release)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__
