"""Serving the app: bind the socket first (a taken port is one clear line, and port 0
gets the port the OS chose, which is printed), then uvicorn until Ctrl-C."""

import contextlib
import os
import socket
import threading
import webbrowser
from collections.abc import Callable

import uvicorn

from artfs.errors import UsageError
from artfs.ui import auth
from artfs.ui.app import make_app


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another with --port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str, token: str | None) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def choose_token(host: str, given: str | None) -> str | None:
    """The token: the one given (``--token`` or $ARTFS_UI_TOKEN), else a new one when
    the host is not loopback, else none (only this machine reaches loopback)."""
    token = given or os.environ.get(auth.TOKEN_ENV) or None
    if token is None and not auth.is_loopback(host):
        token = auth.new_token()
    if token is not None and len(token) < 16:
        raise UsageError("a token needs at least 16 characters; leave it out to get a random one")
    return token


def server(
    store_path: str, sock: socket.socket, host: str, *, read_only: bool, token: str | None
) -> uvicorn.Server:
    app = make_app(
        store_path, read_only=read_only, token=token, loopback_only=auth.is_loopback(host)
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(
    store_path: str,
    *,
    host: str,
    port: int,
    read_only: bool,
    token: str | None,
    open_browser: bool,
    say: Callable[[str], None],
) -> None:
    token = choose_token(host, token)
    sock = bind(host, port)
    try:
        running = server(store_path, sock, host, read_only=read_only, token=token)
        url = url_of(sock, host, token)
        mode = " (read-only)" if read_only else ""
        say(f"artfs ui of {store_path} at {url}{mode}; Ctrl-C stops it")
        if open_browser:
            threading.Timer(0.5, webbrowser.open, [url]).start()
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn stopped, then re-raised it
            running.run(sockets=[sock])
        say("artfs ui stopped")
    finally:
        sock.close()
