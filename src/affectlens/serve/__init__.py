"""The web service and dashboard: ``affectlens serve`` (FastAPI, the ``[serve]`` extra).

* :mod:`~affectlens.serve.app` builds the app; :mod:`~affectlens.serve.settings` holds its options;
* ``routes/`` the HTTP and WebSocket endpoints; ``static/`` the dashboard (no CDN: Plotly's script
  is served from the installed ``plotly`` package);
* :mod:`~affectlens.serve.jobs` the job queue in the database, :mod:`~affectlens.serve.mediajob` one job,
  :mod:`~affectlens.serve.live` the per-connection live session, :mod:`~affectlens.serve.keys` API keys.
"""

from affectlens.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings | None = None):
    """The FastAPI app (imported lazily so ``affectlens`` works without the ``[serve]`` extra)."""
    from affectlens.serve.app import create_app as _create

    return _create(settings or ServeSettings())
