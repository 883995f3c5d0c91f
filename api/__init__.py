"""The FastAPI service: chat, staff search, editors' API, web pages and the knowledge store."""
