"""Importing Great Expectations: seconds of import time that DAG parsing must not pay, and the ~200 import-time
INFO lines it logs, kept out of task logs."""

from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import Any

GX_DEFERRED_MODULES = ("scipy.stats", "altair")
"""Modules ``import great_expectations`` pulls in (for the KL-divergence and KS-test expectations, which the gate
never runs) but calls only inside those expectations: stand-ins load them on first use. Importing GX took
2.3-2.9 s with them and 1.7-1.8 s without, alternated on the 2-core development machine."""


class _DeferredModule(types.ModuleType):
    """A stand-in in ``sys.modules`` that imports the real module on the first use of any attribute."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__path__", "__file__", "__all__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def import_gx() -> types.ModuleType:
    """``import great_expectations``, GX's import-time log lines silenced and :data:`GX_DEFERRED_MODULES` deferred."""
    if (gx := sys.modules.get("great_expectations")) is not None:
        return gx
    # about 200 INFO lines of its API-docs registry ("Skipping registering function ...") while importing
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name in GX_DEFERRED_MODULES:
        if name not in sys.modules:
            sys.modules[name] = _DeferredModule(name)
    return importlib.import_module("great_expectations")
