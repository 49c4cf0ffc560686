"""The pieces around the widget that need no browser: the origin list and the static server."""

from __future__ import annotations

import importlib.util

import pytest

from channels.socketio import OriginError, SocketIOInput, parse_origins
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
