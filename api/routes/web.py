"""The built-in web dashboard: static files from `dashboards/web/`, served at `/dashboard/`.

The page is plain HTML, CSS and JavaScript (no build step); it calls the `/api/v1` routes
with the key the user enters, so serving it needs no authentication.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

DASHBOARD_PATH = "/dashboard"
WEB_DIR = Path(str(resources.files("dashboards") / "web"))

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """The dashboard is the service's front page."""
    return RedirectResponse(f"{DASHBOARD_PATH}/")


router.mount(DASHBOARD_PATH, StaticFiles(directory=WEB_DIR, html=True), name="dashboard")
