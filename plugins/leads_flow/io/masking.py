"""Registering secrets with Airflow's secrets masker, so that no log line, rendered field or XCom shows them."""

from __future__ import annotations


def mask_secret(value: str) -> None:
    """Mask ``value`` in this process's log output and, inside a task, in the supervisor's."""
    from airflow.sdk.log import mask_secret as airflow_mask_secret

    airflow_mask_secret(value)
