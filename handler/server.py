"""The app for uvicorn (`make serve`, or a container you run yourself): handler.app's app,
plus GET /metrics in Prometheus text format when PROMETHEUS_METRICS is on.

Lambda imports handler.app, never this module, so the function never loads
prometheus_client. Run: `uvicorn handler.server:app`.
"""

from __future__ import annotations

from handler.app import app, settings

__all__ = ["app"]

if settings.prometheus_metrics:
    from handler.prometheus import install

    install(app)
