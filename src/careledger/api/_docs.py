"""`/docs`: Swagger UI for the node's OpenAPI description, served from the package, so it works offline.

The assets are copied verbatim from the npm package `swagger-ui-dist` (pinned in
`package.json`) into `docs_assets/`; a test checks the copy against the installed package.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = Path(__file__).resolve().parent / "docs_assets"


def add_docs(app: FastAPI) -> None:
    """Swagger UI at `/docs`, its scripts and styles at `/docs/assets/`."""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI's page, loading everything from this server."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API docs",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
