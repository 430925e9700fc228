"""The two kinds of error the package raises, marked by base class so that one question decides a retry.

:class:`Permanent`: no retry cures it (bad configuration, a missing column, a broken keyring, a failed gate);
Airflow must not retry it. :class:`Transient`: a retry may cure it (a lost connection, a deadlock). Anything
unmarked is treated as transient by Airflow's task retries.
"""

from __future__ import annotations


class Permanent(Exception):  # noqa: N818 - a mixin naming a kind, as dlt's TerminalException
    """Mixin: an error no retry will cure."""


class Transient(Exception):  # noqa: N818
    """Mixin: an error a retry may cure."""


class Recorded(Exception):  # noqa: N818
    """Mixin: the partition run's row in ``leads_flow_run`` already holds this outcome (a failed gate), so the
    step's failure recorder leaves it as it is."""
