"""`/docs`: Swagger UI served by the API itself (assets from the `swagger-ui-bundle-v2` wheel).

Nothing is loaded from another origin, and the page has no inline script, so the same
Content-Security-Policy as the dashboard (`default-src 'self'`) holds here too.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>plantwatch API</title>
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

INIT_JS = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  persistAuthorization: false,
}});
"""


@router.get(DOCS_PATH)
def docs_page() -> HTMLResponse:
    """Swagger UI for the OpenAPI document."""
    return HTMLResponse(PAGE)


@router.get(f"{DOCS_PATH}/init.js")
def docs_init() -> Response:
    """Swagger UI's start-up call, as a script file (CSP allows no inline script)."""
    return Response(INIT_JS, media_type="text/javascript")


router.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
