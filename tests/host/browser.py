"""What the browser tests share: an ASGI app served by uvicorn on a free loopback port, and Debian's Chromium
driven by Playwright (no browser download; no network of its own)."""

import contextlib
import socket
import threading
import time

import uvicorn
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root in a container. The rest keeps Chromium from reaching the network on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def serving(app):
    """`app` served by uvicorn on a free loopback port, in a thread: its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield "http://127.0.0.1:%d" % sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium():
    """A headless Chromium for a module's tests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
