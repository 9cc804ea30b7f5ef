"""The web UI: static files shipped in the package, mounted at ``/ui``.

The files hold no data: the page is a hash-routed single page (``/ui/#/traces``) that reads
everything from the JSON API under ``/api/v1``, so the UI needs no server-side rendering and
works under a strict Content-Security-Policy (no inline script or style).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_ui"]

#: The UI's files (index.html, app.css and the JavaScript modules), inside the package.
STATIC_DIR = Path(__file__).resolve().parent / "static"


def mount_ui(app: FastAPI) -> None:
    """Serve the UI's static files (no data in them: the API holds the data)."""

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui", include_in_schema=False)
    def ui_slash() -> RedirectResponse:  # relative asset paths need the trailing slash
        return RedirectResponse("/ui/", status_code=307)

    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
