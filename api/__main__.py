"""`python -m api`: serve the API (and its Rasa server) on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from api.main import create_app
from api.settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"MS FAQ chatbot: http://{settings.host}:{settings.port}/  (data in {settings.data_dir})", flush=True)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=20
    )


if __name__ == "__main__":
    main()
