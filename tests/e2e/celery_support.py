"""Helpers the Celery end-to-end test hands to the Airflow processes it starts (imported by them, not by pytest).

Two workers on one machine share its host name, so ``task_instance.hostname`` would not tell them apart: each
worker runs with ``[core] hostname_callable = tests.e2e.celery_support.worker_hostname`` and its own
``LEADS_E2E_WORKER`` (inherited by the task processes it forks).
"""

from __future__ import annotations

import os

HOSTNAME_PREFIX = "leads-e2e-"


def worker_hostname() -> str:
    return HOSTNAME_PREFIX + os.environ.get("LEADS_E2E_WORKER", "unnamed")
