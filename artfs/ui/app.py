"""The web app: routes, templates, the store each request reads, and the guards."""

import os
import time
from dataclasses import dataclass, field

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artfs.errors import ArtfsError, Conflict, NotFound, UsageError
from artfs.store.store import Store
from artfs.ui import auth, format, paths, routes

HERE = os.path.dirname(__file__)
REFRESH_SECONDS = 5.0  # how often a store with a remote asks it for news, at most
# Only this server's own script and style: markup that slipped through escaping could
# not run script anyway.  Images may be the page's own or data: URLs (none are made).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class UI:
    """What every request needs: where the store is, and how the server was started."""

    store_path: str
    read_only: bool
    secret: str
    templates: jinja2.Environment
    last_refresh: float = field(default=0.0)

    def store(self) -> Store:
        """The store, read afresh: LMDB read transactions see every commit made since by
        any process, and a store with a remote takes in the remote's news now and then."""
        store = Store.open(self.store_path, create=False, refresh=False)
        if store.remote is not None and time.monotonic() - self.last_refresh > REFRESH_SECONDS:
            self.last_refresh = time.monotonic()
            store.refresh()
        return store

    @property
    def csrf(self) -> str:
        return auth.csrf_token(self.secret)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
        autoescape=True,  # every value is text unless a template says otherwise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        human=format.human,
        when=format.when,
        duration=format.duration,
        as_json=format.as_json,
        short=format.short,
        shown=paths.shown,
        quote=paths.quote,
    )
    return env


class Headers:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, sending)


STATUS = {routes.Forbidden: 403, NotFound: 404, UsageError: 400, Conflict: 409}


def _status(error: ArtfsError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(error, cls)), 500)


def error_page(request: Request, status: int, message: str) -> Response:
    ui: UI = request.app.state.ui
    page = ui.templates.get_template("error.html").render(
        status=status, message=message, read_only=ui.read_only, query=""
    )
    return HTMLResponse(page, status_code=status)


async def artfs_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ArtfsError)
    return error_page(request, _status(exc), str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "no such page; start at the front page" if exc.status_code == 404 else exc.detail
    return error_page(request, exc.status_code, str(message))


def make_app(
    store_path: str,
    *,
    read_only: bool = False,
    token: str | None = None,
    loopback_only: bool = True,
    secret: str | None = None,
) -> Starlette:
    """The app over the store at ``store_path``.  ``token`` (if set) is required of every
    request; ``loopback_only`` refuses Host headers that do not name loopback."""
    Store.open(store_path, create=False, refresh=False)  # a missing store fails here
    app = Starlette(
        routes=[
            *routes.ROUTES,
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
        ],
        middleware=[
            Middleware(Headers),
            Middleware(auth.Guard, token=token, loopback_only=loopback_only),
        ],
        exception_handlers={ArtfsError: artfs_error, HTTPException: http_error},
    )
    app.state.ui = UI(store_path, read_only, secret or auth.new_token(), templates())
    return app
