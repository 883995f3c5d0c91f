"""The FastAPI application: builds the runtime in the lifespan and mounts the routers."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from rasa_sdk.executor import ActionExecutor

from api import errors, openapi
from api.accounts import Accounts
from api.hardening import MethodGuard, RequestGuard
from api.metrics import Metrics
from api.observability import RequestLog
from api.rasa_runtime import RasaRuntime
from api.routes import actions, auth, chat, docs, editorial, flags, health, pages, qa, quality, retrain, search
from api.routes import metrics as metrics_route
from api.routes.pages import STATIC
from api.runtime import Runtime, build_runtime, warm_after_start
from api.security import ChatCORS, SecurityHeaders
from api.settings import Settings, get_settings
from api.transcripts import Transcripts
from bot import safety
from bot.actions.answer import register

log = logging.getLogger("faqbot")


async def keep_in_sync(runtime: Runtime) -> None:
    """Every `operations.sync_seconds`: catch up with changes made by another replica (or retry a re-index
    that failed here, e.g. on a full disk). A store that cannot be reached is logged once per outage."""
    failing = False
    while True:
        await asyncio.sleep(runtime.settings.operations.sync_seconds)
        try:
            changed = await asyncio.to_thread(runtime.sync)
        except Exception as exc:  # the store restarting, a full disk: keep serving what we have
            if not failing:
                log.warning("replica sync failed (%s: %s); serving the index we have", type(exc).__name__, exc)
            failing = True
            continue
        if failing:
            log.info("replica sync works again")
        failing = False
        if changed:
            log.info("replica sync: %s changed elsewhere, now served here", " and ".join(changed))


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Rasa's own start (tens of seconds) runs beside the build: the chat answers without it until it is ready.
        rasa = RasaRuntime(s)
        rasa.start()
        try:
            await asyncio.to_thread(safety.warm)  # compile the safety rules now: a broken rules file stops start-up
            runtime = await asyncio.to_thread(build_runtime, s, rasa)
        except BaseException:
            await rasa.stop()
            raise
        warm_after_start(runtime)
        executor = ActionExecutor()
        register(executor, runtime.answerer)
        app.state.runtime = runtime
        # Staff accounts and web sessions share the store's database (api/accounts.py).
        app.state.accounts = await asyncio.to_thread(Accounts, runtime.store.engine, s.web)
        app.state.executor = executor
        # Stored conversations (off by default) and the hourly deletion of those past their retention.
        app.state.transcripts = Transcripts(runtime.store, s.privacy)
        await app.state.transcripts.purge_logged()
        purging = asyncio.create_task(app.state.transcripts.keep_purging(), name="transcript-purge")
        # No fine-tuned model yet: the base model answers now while the first one is trained in a child process.
        await asyncio.to_thread(runtime.retrainer.start_first)
        runtime.retrainer.start_schedule()
        syncing = asyncio.create_task(keep_in_sync(runtime), name="replica-sync")
        try:
            yield
        finally:
            syncing.cancel()
            purging.cancel()
            await asyncio.to_thread(runtime.retrainer.stop)  # a job running is ended; the model serving stays
            await runtime.rasa.stop()
            runtime.store.close()

    app = FastAPI(
        title="MS CCSVI FAQ chatbot",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers questions about CCSVI and the liberation procedure, with sources.",
        docs_url=None,  # served from our own files instead (api/routes/docs.py), when web.api_docs is on
        redoc_url=None,
    )
    errors.install(app)
    openapi.install(app)
    if s.web.api_docs:
        app.include_router(docs.router)
    app.state.metrics = Metrics() if s.operations.metrics else None
    if app.state.metrics is not None:
        app.state.metrics.watch(lambda: getattr(app.state, "runtime", None))
        app.include_router(metrics_route.router)
    for module in (chat, search, qa, flags, auth, health, actions, pages, retrain):
        app.include_router(module.router)
    for router in editorial.routers:
        app.include_router(router)
    app.include_router(quality.router)  # the quality loop: its routes, and its start and upkeep (a router lifespan)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The last added runs first: security headers go on everything, CORS answers included. Hostile input
    # (oversized or broken bodies, wrong methods) is answered before routing (api/hardening.py).
    app.add_middleware(RequestGuard, max_body_bytes=s.web.max_body_bytes, max_import_bytes=s.web.max_import_bytes)
    app.add_middleware(MethodGuard, routes=app.router.routes)
    app.add_middleware(ChatCORS, allowed_origins=s.web.allowed_origins)
    app.add_middleware(SecurityHeaders)
    # Outermost: the request id, one JSON log line per request, and the request metrics (api/observability.py).
    app.add_middleware(
        RequestLog,
        trusted_proxies=s.web.trusted_proxies,
        observe=app.state.metrics.request if app.state.metrics is not None else None,
        routes=app.router.routes,
    )
    return app
