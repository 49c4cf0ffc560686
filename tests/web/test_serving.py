"""The pieces around the widget that need no browser: the origin list and the static server."""

from __future__ import annotations

import importlib.util

import pytest

from rasa_server.channels.socketio import OriginError, SocketIOInput, parse_origins
from tests.e2e.stack import PROJECT_ROOT


def load_serve():
    spec = importlib.util.spec_from_file_location("serve", PROJECT_ROOT / "web" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_origins_from_credentials():
    channel = SocketIOInput.from_credentials({
        "session_persistence": True,
        "cors_allowed_origins": ["http://localhost:8080", "http://127.0.0.1:8080/"],
    })
    assert channel.name() == "socketio"
    assert channel.session_persistence is True
    assert channel.cors_allowed_origins == ["http://localhost:8080", "http://127.0.0.1:8080"]
    assert parse_origins("http://a.example, https://b.example:8443") == [
        "http://a.example", "https://b.example:8443"]


def test_widget_origins_from_the_environment_replace_the_list(monkeypatch):
    monkeypatch.setenv("WIDGET_ORIGINS", "https://chat.example.org")
    channel = SocketIOInput.from_credentials({"cors_allowed_origins": ["http://localhost:8080"]})
    assert channel.cors_allowed_origins == ["https://chat.example.org"]
    monkeypatch.setenv("WIDGET_ORIGINS", "*")
    with pytest.raises(OriginError):
        SocketIOInput.from_credentials({"cors_allowed_origins": ["http://localhost:8080"]})


@pytest.mark.parametrize("value", [None, [], "*", ["*"], ["http://*.example"], ["localhost:8080"],
                                   ["http://a.example/path"], 8080])
def test_bad_origins_stop_the_start(value):
    with pytest.raises(OriginError):
        SocketIOInput.from_credentials({"cors_allowed_origins": value})


def test_the_engineio_server_gets_the_origins():
    channel = SocketIOInput.from_credentials({"cors_allowed_origins": ["http://localhost:8080"]})

    async def ignore(_message):
        return None

    channel.blueprint(ignore)
    assert channel.sio.eio.cors_allowed_origins == ["http://localhost:8080"]


def test_static_files_only_from_web():
    serve = load_serve()
    assert serve.resolve("/") == PROJECT_ROOT / "web" / "index.html"
    assert serve.resolve("/widget.js?v=1") == PROJECT_ROOT / "web" / "widget.js"
    for path in ("/serve.py", "/package.json", "/package-lock.json", "/README.md", "/.gitignore",
                 "/../Makefile", "/%2e%2e/Makefile", "/node_modules/socket.io-client/package.json",
                 "/missing.js"):
        assert serve.resolve(path) is None, path


def test_content_security_policy_names_the_socket_url_only():
    serve = load_serve()
    csp = serve.content_security_policy("https://bot.example.org")
    assert "connect-src 'self' https://bot.example.org wss://bot.example.org;" in csp
    assert "script-src 'self';" in csp
    assert "*" not in csp
    with pytest.raises(ValueError):
        serve.content_security_policy("javascript:alert(1)")


def test_config_script_cannot_close_a_script_tag():
    serve = load_serve()
    script = serve.config_script("http://localhost:5005/</script><script>x()").decode()
    assert "</script>" not in script
    assert script.startswith("window.B12ChatConfig = Object.assign({")


# ---------------------------------------------------------------- the server itself


@pytest.fixture(scope="module")
def widget_server(tmp_path_factory):
    from tests.e2e.stack import free_port, stop_process
    from tests.web.conftest import serve_widget

    site = serve_widget(tmp_path_factory.mktemp("serve"), free_port(), "http://127.0.0.1:5005")
    try:
        yield site
    finally:
        stop_process(site.proc)


def raw_exchange(site, request: bytes, timeout: float = 15) -> bytes:
    """Send raw bytes, read the whole answer (the server closes after one response)."""
    import socket
    from urllib.parse import urlsplit

    port = urlsplit(site.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


SECURITY_HEADERS = ("Content-Security-Policy:", "X-Content-Type-Options: nosniff",
                    "Permissions-Policy:", "X-Frame-Options: DENY", "Referrer-Policy:")


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /widget.js HTTP/1.0\r\n\r\n", 200),
    (b"GET /missing.js HTTP/1.0\r\n\r\n", 404),
    (b"GET /%00 HTTP/1.0\r\n\r\n", 404),  # used to drop the connection
    (b"GET /\x00/x HTTP/1.0\r\n\r\n", 404),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.0\r\n\r\n", 404),  # longer than a file name may be
    (b"DELETE / HTTP/1.0\r\n\r\n", 501),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\n\r\n", 505),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n", 414),
])
def test_every_response_carries_the_security_headers(widget_server, request_bytes, status):
    answer = raw_exchange(widget_server, request_bytes)
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.split("\r\n", 1)[0].split(" ")[1] == str(status), head
    for header in SECURITY_HEADERS:
        assert header in head, (header, head)
    assert "frame-ancestors 'none'" in head and "camera=()" in head


def test_a_silent_or_trickling_client_is_cut_off(widget_server):
    import socket
    import threading
    import time
    from urllib.parse import urlsplit

    serve = load_serve()
    port = urlsplit(widget_server.url).port
    held: dict[str, float] = {}

    def silent() -> None:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            conn.recv(1)  # returns b"" when the server closes
        held["silent"] = time.monotonic() - start

    def trickling() -> None:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            try:
                for byte in b"GET /" + b"a" * 200:  # one byte a second: never a whole line
                    conn.sendall(bytes([byte]))
                    time.sleep(1)
                    if time.monotonic() - start > 60:
                        break
            except OSError:  # the server closed the connection
                pass
        held["trickling"] = time.monotonic() - start

    threads = [threading.Thread(target=f) for f in (silent, trickling)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert held["silent"] <= serve.SOCKET_TIMEOUT_S + 5, held
    assert held["trickling"] <= serve.CONNECTION_DEADLINE_S + 5, held
    # And the server still answers.
    assert b" 200 " in raw_exchange(widget_server, b"GET / HTTP/1.0\r\n\r\n").split(b"\r\n")[0]
