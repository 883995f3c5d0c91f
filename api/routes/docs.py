"""The interactive API documentation: Swagger UI at /docs, from our own files.

Swagger UI is vendored under api/static/docs/swagger-ui/ (swagger-ui-dist 5.35.0 from the npm
registry, unmodified, with its licence) and started by a small script file, so the page loads nothing
from elsewhere and runs under the same Content-Security-Policy as every page (api/security.py).
ReDoc is not served: its styling is injected as <style> elements, which `style-src 'self'` forbids,
and the page stays blank. `web.api_docs: false` leaves /docs out too (404); /openapi.json stays.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.routes.pages import STATIC

DOCS = STATIC / "docs"
router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> FileResponse:
    return FileResponse(DOCS / "swagger.html", media_type="text/html")
