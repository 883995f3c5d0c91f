"""The FastAPI application: builds the runtime in the lifespan and mounts the routers."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from rasa_sdk.executor import ActionExecutor

from api import errors
from api.accounts import Accounts
from api.routes import actions, auth, chat, editorial, flags, health, pages, qa, retrain, search
from api.routes.pages import STATIC
from api.runtime import build_runtime
from api.security import ChatCORS, SecurityHeaders
from api.settings import Settings, get_settings
from bot import safety
from bot.actions.answer import register

log = logging.getLogger("faqbot")


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(safety.warm)  # compile the safety rules now: a broken rules file stops start-up
        runtime = await asyncio.to_thread(build_runtime, s)
        executor = ActionExecutor()
        register(executor, runtime.answerer)
        app.state.runtime = runtime
        # Staff accounts and web sessions share the store's database (api/accounts.py).
        app.state.accounts = await asyncio.to_thread(Accounts, runtime.store.engine, s.web)
        app.state.executor = executor
        runtime.rasa.start()
        runtime.retrainer.start_schedule()
        try:
            yield
        finally:
            await asyncio.to_thread(runtime.retrainer.stop)  # a job running is ended; the model serving stays
            await runtime.rasa.stop()
            runtime.store.close()

    app = FastAPI(
        title="MS CCSVI FAQ chatbot",
        version="0.1.0",
        lifespan=lifespan,
        description="Answers questions about CCSVI and the liberation procedure, with sources.",
    )
    errors.install(app)
    for module in (chat, search, qa, flags, auth, health, actions, pages, retrain):
        app.include_router(module.router)
    for router in editorial.routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The last added runs first: security headers go on everything, CORS answers included.
    app.add_middleware(ChatCORS, allowed_origins=s.web.allowed_origins)
    app.add_middleware(SecurityHeaders)
    return app
