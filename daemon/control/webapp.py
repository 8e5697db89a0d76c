"""The phone web app's static files and the security headers of every answer.

The built files (`daemon/web/`, produced by `web/`'s one build command and committed) are
read once at start, with a gzip copy, and served from memory at `/` and `/<name>`; running
the daemon never needs Node. Only names present in the manifest of the build are served,
so no path from a request ever reaches the file system. The plain-HTTP listener redirects
the page to HTTPS: the token cookie is `Secure` and the PAKE runs in a secure context.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

#: No inline script or style, nothing from another origin; images may come from the
#: service's image host (cover art) over https, and from `data:` for the placeholder.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:;"
       " connect-src 'self'; manifest-src 'self'; worker-src 'self'; font-src 'self';"
       " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".webmanifest": "application/manifest+json", ".png": "image/png",
          ".json": "application/json"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


def load_static(root: Path = WEB_DIR) -> dict[str, StaticFile]:
    """name -> file for every servable file under `root` (flat; other types skipped)."""
    files: dict[str, StaticFile] = {}
    if not root.is_dir():
        return files
    for path in sorted(root.iterdir()):
        kind = _TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        files[path.name] = StaticFile(body, gzip.compress(body, 9, mtime=0), kind, etag)
    return files


def add_security_headers(response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class WebApp:
    """Handlers for `/` and the app's files; `paths` are public (no token needed)."""

    def __init__(self, files: dict[str, StaticFile], https_port: int = 0) -> None:
        self._files = files
        self.https_port = https_port

    @property
    def paths(self) -> frozenset[str]:
        return frozenset({"/", "/{name}"})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index, name="web_index")
        app.router.add_get("/{name}", self.static, name="web_static")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request, "index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "index.html":
            raise web.HTTPNotFound()
        return self._serve(request, name)

    def _serve(self, request: web.Request, name: str) -> web.StreamResponse:
        transport = request.transport
        if transport is not None and transport.get_extra_info("sslcontext") is None:
            location = request.url.with_scheme("https").with_port(self.https_port)
            raise web.HTTPPermanentRedirect(location=str(location))
        item = self._files.get(name)
        if item is None:
            raise web.HTTPNotFound()
        # the shell is revalidated on every load so an upgrade of the daemon shows at once
        headers = {hdrs.ETAG: item.etag, hdrs.CACHE_CONTROL: "no-cache",
                   hdrs.VARY: "Accept-Encoding"}
        if request.headers.get(hdrs.IF_NONE_MATCH) == item.etag:
            return web.Response(status=304, headers=headers)
        body = item.body
        if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
            body = item.gzipped
            headers[hdrs.CONTENT_ENCODING] = "gzip"
        response = web.Response(body=body, headers=headers)
        response.content_type = item.content_type.split(";")[0]
        if "charset" in item.content_type:
            response.charset = "utf-8"
        return response
