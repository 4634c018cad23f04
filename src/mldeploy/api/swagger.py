"""The interactive docs page's assets: Swagger UI from the installed ``openapi-ui-bundles`` package, never a CDN.

The server serves the package's own files under :data:`ASSETS_PATH`, so the page
works on a machine without internet access and shows the same Swagger UI the
project installed. The page lets a user send a request to the server it came from.
"""

from __future__ import annotations

import html

from mldeploy._extras import require

__all__ = ["ASSETS_PATH", "assets_app", "swagger_head", "swagger_body"]

ASSETS_PATH = "/docs/assets"


def assets_app():
    """An ASGI app serving Swagger UI's files (scripts, styles) from the installed package."""
    bundles = require("openapi_ui_bundles")
    from starlette.staticfiles import StaticFiles

    return StaticFiles(directory=bundles.swagger_ui.static_path)


def swagger_head() -> str:
    """The page's stylesheet link."""
    return f"<link rel='stylesheet' href='{ASSETS_PATH}/swagger-ui.css'>"


def swagger_body(openapi_url: str = "/openapi.json") -> str:
    """Swagger UI's mount point and start-up script, reading the server's OpenAPI document."""
    url = html.escape(openapi_url, quote=True)
    return (f"<div id='swagger-ui'></div><script src='{ASSETS_PATH}/swagger-ui-bundle.js'></script>"
            f"<script>window.ui = SwaggerUIBundle({{url: '{url}', dom_id: '#swagger-ui', deepLinking: true, "
            f"tryItOutEnabled: true, defaultModelsExpandDepth: 0}});</script>")
