"""`python -m api`: serve the API (and its Rasa server) on the configured host and port."""

from __future__ import annotations

import logging.config

import uvicorn

from api.main import create_app
from api.observability import log_config
from api.settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.config.dictConfig(log_config())  # JSON lines (api/observability.py)
    print(f"MS FAQ chatbot: http://{settings.host}:{settings.port}/  (data in {settings.data_dir})", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        # One JSON line per request comes from api/observability.py instead: uvicorn's access log holds
        # the query string (staff search questions); its other lines go through log_config as JSON.
        access_log=False,
        log_config=log_config(),
        timeout_graceful_shutdown=20,
        # The client's address behind a proxy is worked out by api/clients.py from web.trusted_proxies
        # only; uvicorn's own handling would believe X-Forwarded-For from any local client.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
