"""A real ``artfs ui`` server in a thread of the test process, on a port the OS picks;
always stopped."""

import contextlib
import threading
import time

from artfs.ui.server import bind, server


@contextlib.contextmanager
def running(store_path: str, *, read_only: bool = False):
    """Yield the server's base URL (http://127.0.0.1:PORT) while it serves."""
    sock = bind("127.0.0.1", 0)
    srv = server(store_path, sock, "127.0.0.1", read_only=read_only, token=None)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(30)
        sock.close()
