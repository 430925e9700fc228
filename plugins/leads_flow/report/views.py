"""The run report: HTML pages and a JSON API over ``leads_flow_run``, for people who live in the Airflow UI.

The api-server mounts the app at ``/leads-flow`` (plugin: ``plugins/leads_flow_report.py``)::

    GET /leads-flow/                              recent partition runs, newest first (?status=&limit=)
    GET /leads-flow/runs/{etl_run_id}             one partition run: window, counts, rejects by reason
                                                  (SVG bar chart), every data-quality expectation, timings, error
    GET /leads-flow/dag-runs/{dag_id}/{run_id}    the partitions of one DAG run (the DAG run's "Leads flow" tab)
    GET /leads-flow/api/runs                      the list as JSON (same filters)
    GET /leads-flow/api/runs/{etl_run_id}         one run as JSON
    GET /leads-flow/cutover                       cutover readiness: the reconcile's match rate per day and over
                                                  time (inline SVG), drift classes, the gates of docs/cutover.md,
                                                  links to the reconcile runs (?days=, default 60)
    GET /leads-flow/api/cutover                   the same as JSON

Only the runs of this project's DAGs (:func:`leads_flow.report.data.project_dag_ids`) are shown or
served; a run of any other DAG, or of none, is 404. Access is checked per DAG: a page or API answer about a
run (or a DAG run) needs read access to that DAG's runs (else 403), and the lists contain only the runs of
the DAGs the user may read (403 when that is none). In the api-server the check is Airflow's auth manager
(:func:`airflow_readable_dags`); :func:`create_app` without ``readable_dags`` (tests, local use) reads all.

This module holds the app, its routes and access control. The reading of ``leads_flow_run`` and
``leads_flow_reject`` is :mod:`leads_flow.report.data` (read-only; SQL in ``include/sql/report/``),
the pages :mod:`leads_flow.report.render` (Jinja templates in ``report/templates/``). Run ids come from users,
so every value is escaped (Jinja autoescape; URLs percent-encoded), and every string shown or returned passes
:func:`leads_flow.rules.redact.redact` (phones masked) although the audit tables hold none. The pages load
nothing from elsewhere and run one inline script (report/templates/tz.js: times in the UI's zone); a
Content-Security-Policy allows only that script, by its hash.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations inside create_app().
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leads_flow.names import FLOW_CONN_ID, RECONCILE_DAG_ID, REKEY_DAG_ID
from leads_flow.report.cutover import DEFAULT_DAYS as CUTOVER_DAYS
from leads_flow.report.cutover import MAX_DAYS as CUTOVER_MAX_DAYS
from leads_flow.report.cutover import cutover_json, cutover_view, render_cutover
from leads_flow.report.data import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_REJECTS,
    REJECT_SAMPLE,
    ReportUnavailable,
    get_run,
    key_rotations,
    kids_now,
    list_runs_of,
    project_dag_ids,
    to_json,
)
from leads_flow.report.render import TZ_SCRIPT_CSP, Urls, render, render_keys, render_list, render_run
from leads_flow.rules.redact import redact

SECURITY_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src {TZ_SCRIPT_CSP}; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_PATTERN = r"^[a-z_]{1,16}$"


def all_project_dags() -> frozenset[str]:
    """``readable_dags`` without an auth manager: every project DAG (tests, local use)."""
    return frozenset(project_dag_ids())


def create_app(
    *,
    dependencies: Sequence[Any] = (),
    readable_dags: Callable[..., Any] | None = None,
    key_readers: Callable[..., Any] | None = None,
    conn_id: str = FLOW_CONN_ID,
) -> Any:
    """The report as a FastAPI app.

    ``readable_dags`` is a FastAPI dependency returning the project DAG ids the request's user may read
    runs of (the plugin passes :func:`airflow_readable_dags`; it also authenticates: 401 without a login).
    It guards every route, with ``dependencies``. ``key_readers`` answers the same for the key-rotation page,
    which shows ``leads_flow_rekey``'s audit to users who may read that DAG's runs (default: everyone).
    """
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    readable_dep = Depends(readable_dags or all_project_dags)
    keys_dep = Depends(key_readers or (lambda: frozenset({REKEY_DAG_ID})))
    project = frozenset(project_dag_ids())
    app = FastAPI(
        title="Leads flow run report",
        dependencies=[*dependencies, readable_dep],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def allowed(readable: Any) -> frozenset[str]:
        return frozenset(readable or ()) & project

    def dag_scope(dag_id: str | None, readable: Any) -> list[str]:
        """The DAG ids a list may show: one asked-for DAG (404 if not ours, 403 if not readable), else all readable."""
        mine = allowed(readable)
        if dag_id:  # an empty ?dag_id= means no filter
            if dag_id not in project:
                raise HTTPException(
                    404, "Not a leads-flow DAG: the report shows leads_flow_sync and leads_flow_reconcile runs only."
                )
            if dag_id not in mine:
                raise HTTPException(403, "Not allowed")
            return [dag_id]
        if not mine:
            raise HTTPException(403, "Not allowed")
        return sorted(mine)

    def visible_run(etl_run_id: str, readable: Any, not_found: str, rejects: int = REJECT_SAMPLE) -> dict[str, Any]:
        """One run, if it belongs to a project DAG (else 404, like an unknown run) the user may read (else 403)."""
        run = get_run(etl_run_id, conn_id=conn_id, rejects=rejects)
        if run is None or run.get("dag_id") not in project:
            raise HTTPException(404, not_found)
        if run["dag_id"] not in allowed(readable):
            raise HTTPException(403, "Not allowed")
        return run

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def html(body: str, code: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=code, headers=SECURITY_HEADERS)

    def is_api(request: Request) -> bool:
        path = request.url.path
        base = root(request)
        return (path[len(base) :] if path.startswith(base) else path).startswith("/api/")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        login = exc.status_code in (401, 403)
        title = {401: "Sign in required", 403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Error")
        message = exc.detail if isinstance(exc.detail, str) else title
        if login:
            message = (
                "The run report needs an Airflow login with read access to the runs of this DAG "
                "(leads_flow_sync, leads_flow_reconcile)."
                if exc.status_code == 403
                else "The run report needs an Airflow login."
            )
        return html(
            render("error.html", root(request), code=exc.status_code, title=title, message=message, login=login),
            exc.status_code,
        )

    @app.exception_handler(ReportUnavailable)
    async def unavailable(request: Request, exc: ReportUnavailable) -> Any:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return html(
            render(
                "error.html",
                root(request),
                code=503,
                title="Flow database unavailable",
                message=f"{exc}. Check the leads_flow connection; details are in the api-server log.",
                login=False,
            ),
            503,
        )

    @app.get("/", response_class=HTMLResponse)
    def runs_page(
        request: Request,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        status: str | None = Query(None, pattern=STATUS_PATTERN),
        dag_id: str | None = None,
        readable: Any = readable_dep,
    ) -> HTMLResponse:
        runs = list_runs_of(dag_scope(dag_id, readable), limit=limit, status=status, conn_id=conn_id)
        return html(render_list(runs, root(request), status=status, limit=limit))

    @app.get("/dag-runs/{dag_id}/{dag_run_id:path}", response_class=HTMLResponse)
    def dag_run_page(request: Request, dag_id: str, dag_run_id: str, readable: Any = readable_dep) -> HTMLResponse:
        runs = list_runs_of(dag_scope(dag_id, readable), limit=MAX_LIMIT, dag_run_id=dag_run_id, conn_id=conn_id)
        runs.sort(key=lambda r: (r["partition_start"] or datetime.min, r["etl_run_id"]))  # one DAG run: by day
        return html(
            render_list(
                runs,
                root(request),
                heading=f"Partitions of DAG run {dag_run_id}",
                dag_run={"dag_id": dag_id, "run_id": dag_run_id},
            )
        )

    @app.get("/runs/{etl_run_id:path}", response_class=HTMLResponse)
    def run_page(
        request: Request,
        etl_run_id: str,
        rejects: int = Query(REJECT_SAMPLE, ge=1, le=MAX_REJECTS),
        readable: Any = readable_dep,
    ) -> HTMLResponse:
        run = visible_run(etl_run_id, readable, f"No partition run {etl_run_id!r} in leads_flow_run.", rejects)
        return html(render_run(run, root(request)))

    @app.get("/keys", response_class=HTMLResponse)
    def keys_page(request: Request, readers: Any = keys_dep) -> HTMLResponse:
        if REKEY_DAG_ID not in (readers or ()):
            raise HTTPException(403, "Not allowed")
        return html(render_keys(key_rotations(conn_id=conn_id), root(request), kids=kids_now(conn_id=conn_id)))

    @app.get("/api/keys")
    def keys_api(readers: Any = keys_dep) -> JSONResponse:
        if REKEY_DAG_ID not in (readers or ()):
            raise HTTPException(403, "Not allowed")
        body = {
            "kids_now": kids_now(conn_id=conn_id),
            "rotations": [to_json(r) for r in key_rotations(conn_id=conn_id)],
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/api/runs")
    def runs_api(
        request: Request,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        status: str | None = Query(None, pattern=STATUS_PATTERN),
        dag_id: str | None = None,
        dag_run_id: str | None = None,
        readable: Any = readable_dep,
    ) -> JSONResponse:
        urls = Urls(root(request))
        runs = list_runs_of(
            dag_scope(dag_id, readable), limit=limit, status=status, dag_run_id=dag_run_id, conn_id=conn_id
        )
        body = {"runs": [{**to_json(r), "report_url": redact(urls.run(r["etl_run_id"]))} for r in runs], "limit": limit}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/api/runs/{etl_run_id:path}")
    def run_api(request: Request, etl_run_id: str, readable: Any = readable_dep) -> JSONResponse:
        run = visible_run(etl_run_id, readable, "no such partition run")
        return JSONResponse(
            {**to_json(run), "report_url": redact(Urls(root(request)).run(etl_run_id))},
            headers={"Cache-Control": "no-store"},
        )

    def cutover_readable(readable: Any) -> None:
        """The cutover page shows the reconcile's results: it needs read access to leads_flow_reconcile's runs."""
        if RECONCILE_DAG_ID not in allowed(readable):
            raise HTTPException(403, "Not allowed")

    @app.get("/cutover", response_class=HTMLResponse)
    def cutover_page(
        request: Request,
        days: int = Query(CUTOVER_DAYS, ge=1, le=CUTOVER_MAX_DAYS),
        readable: Any = readable_dep,
    ) -> HTMLResponse:
        cutover_readable(readable)
        return html(render_cutover(cutover_view(days, conn_id=conn_id), root(request)))

    @app.get("/api/cutover")
    def cutover_api(
        days: int = Query(CUTOVER_DAYS, ge=1, le=CUTOVER_MAX_DAYS), readable: Any = readable_dep
    ) -> JSONResponse:
        cutover_readable(readable)
        return JSONResponse(cutover_json(cutover_view(days, conn_id=conn_id)), headers={"Cache-Control": "no-store"})

    return app


class LazyApp:
    """An ASGI app built on its first request.

    Every Airflow process imports plugins (the task runner does, for macros), but only the api-server
    serves this app; building it, and importing Airflow's API security for it, is left to that process.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.app(scope, receive, send)


def readable_dag_ids(user: Any, dag_ids: Sequence[str], auth_manager: Any = None) -> frozenset[str]:
    """The ``dag_ids`` whose runs ``user`` may read, asking Airflow's auth manager once per DAG.

    The same question ``requires_access_dag("GET", DagAccessEntity.RUN)`` asks for one DAG in Airflow's own
    DAG-run API: ``is_authorized_dag(method="GET", access_entity=RUN, details=DagDetails(id, team_name))``.
    The team name is looked up only when ``[core] multi_team`` is on (it is a metadata-database query).
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.configuration import conf

    manager = auth_manager or get_auth_manager()
    multi_team = conf.getboolean("core", "multi_team", fallback=False)
    out = set()
    for dag_id in dag_ids:
        team = None
        if multi_team:
            from airflow.models.dag import DagModel

            team = DagModel.get_team_name(dag_id)
        if manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id, team_name=team), user=user
        ):
            out.add(dag_id)
    return frozenset(out)


def airflow_readable_dags(dag_ids: Callable[[], Sequence[str]] = project_dag_ids) -> Callable[..., Any]:
    """The plugin's ``readable_dags``: Airflow's login (UI cookie or bearer token; 401 without), then the
    DAGs among ``dag_ids()`` (default: the project's) that user may read runs of (:func:`readable_dag_ids`)."""
    from airflow.api_fastapi.core_api.security import GetUserDep

    def readable(user: GetUserDep) -> frozenset[str]:
        return readable_dag_ids(user, dag_ids())

    return readable


def plugin_app() -> Any:
    """The app the plugin mounts: the report behind Airflow's authentication and per-DAG run permissions."""
    return create_app(readable_dags=airflow_readable_dags(), key_readers=airflow_readable_dags(lambda: (REKEY_DAG_ID,)))
