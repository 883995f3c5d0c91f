"""GET /metrics: Prometheus metrics of this replica (api/metrics.py), when operations.metrics is on.

The format follows the scraper's Accept header (OpenMetrics for Prometheus, else the classic text
format). For the monitoring network only: the public nginx answers 404 for it (api/prod.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(request.app.state.metrics.registry), headers={"Content-Type": media_type})
