"""Serve the chat widget and its demo page: `python web/serve.py --port 8080 --host 127.0.0.1`.

Serves the files of web/ (HTML, JS, CSS, images; never node_modules, package files or
this script), `/vendor/socket.io.min.js` from web/node_modules (`npm ci --prefix web`),
and `/config.js`, the demo page's widget configuration, built from `--socket-url`.
Every response, error pages included, carries the same security headers (nosniff, a
Content-Security-Policy whose connect-src allows this server and the Rasa socket URL only,
frame-ancestors 'none', a Permissions-Policy that turns off what the widget never uses).
A connection gets CONNECTION_DEADLINE_S in all and SOCKET_TIMEOUT_S per read: a slow or
silent client cannot hold one of the server's threads for longer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mimetypes
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

WEB_ROOT = Path(__file__).resolve().parent
CLIENT_JS = WEB_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
SERVED_SUFFIXES = {".html", ".js", ".css", ".svg", ".png", ".ico", ".webp"}
PRIVATE_PARTS = {"node_modules", "package.json", "package-lock.json", "serve.py"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SOCKET_TIMEOUT_S = 10
CONNECTION_DEADLINE_S = 30
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
    "microphone", "midi", "payment", "usb", "interest-cohort"))
# What the demo page passes to the widget (window.B12ChatConfig), besides socketUrl.
DEMO_CONFIG = {
    "title": "B12 results helper",
    "subtitle": "Understand your vitamin B12 lab results",
    "initPayload": "/greet",
    # The demo clinic is in the UK: the urgent card's call buttons dial these.
    "emergencyNumber": "999",
    "crisisNumber": "116 123",
}


def socket_origins(socket_url: str) -> tuple[str, str]:
    """The http(s) and ws(s) origins of the Rasa socket URL, for connect-src."""
    parts = urlsplit(socket_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--socket-url must be http(s)://host[:port], not {socket_url!r}")
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}"


def content_security_policy(socket_url: str) -> str:
    http_origin, ws_origin = socket_origins(socket_url)
    return "; ".join((
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {http_origin} {ws_origin}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))


def config_script(socket_url: str) -> bytes:
    config = {"socketUrl": socket_url, **DEMO_CONFIG}
    # json.dumps output cannot close the script; escape "<" anyway for any HTML context.
    body = json.dumps(config, indent=2).replace("<", "\\u003c")
    # A page may set window.B12ChatConfig first: its keys win over the demo's.
    return f"window.B12ChatConfig = Object.assign({body}, window.B12ChatConfig || {{}});\n".encode()


def resolve(path: str) -> Path | None:
    """The file under web/ that a URL path names, or None when it must not be served."""
    relative = unquote(urlsplit(path).path).lstrip("/") or "index.html"
    if relative.endswith("/"):
        relative += "index.html"
    if "\x00" in relative:
        return None
    try:
        candidate = (WEB_ROOT / relative).resolve()
        if not candidate.is_relative_to(WEB_ROOT) or not candidate.is_file():
            return None
    except (OSError, ValueError):  # a name too long for the file system, and the like
        return None
    parts = candidate.relative_to(WEB_ROOT).parts
    if any(p in PRIVATE_PARTS or p.startswith(".") for p in parts):
        return None
    return candidate if candidate.suffix in SERVED_SUFFIXES else None


def make_handler(socket_url: str, quiet: bool) -> type[BaseHTTPRequestHandler]:
    csp = content_security_policy(socket_url)
    config_js = config_script(socket_url)

    class Handler(BaseHTTPRequestHandler):
        server_version = "b12-widget"
        sys_version = ""
        timeout = SOCKET_TIMEOUT_S  # per read and write (StreamRequestHandler.setup)
        # Answer with a status line and headers even when the request line is malformed
        # (the default, HTTP/0.9, means a bare body: error pages without any header).
        default_request_version = "HTTP/1.0"

        def setup(self) -> None:
            super().setup()
            # One request per connection (HTTP/1.0); a client that trickles its request in
            # byte by byte is cut off at the deadline, whatever the per-read timeout.
            self._deadline = threading.Timer(CONNECTION_DEADLINE_S, self._cut_off)
            self._deadline.daemon = True
            self._deadline.start()

        def _cut_off(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def finish(self) -> None:
            self._deadline.cancel()
            with contextlib.suppress(OSError):  # the client went away, or was cut off
                super().finish()

        def send_error(self, code: int, message: str | None = None,
                       explain: str | None = None) -> None:
            """The built-in error pages (400, 414, 501...) with the same headers as any page."""
            self.close_connection = True
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "Error"
            head = getattr(self, "command", None) == "HEAD" or code < 200 or code in (204, 304)
            self._send(code, "text/plain; charset=utf-8", f"{code} {phrase}\n".encode(), head)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, head: bool) -> None:
            route = urlsplit(self.path).path
            if route == "/config.js":
                self._send(HTTPStatus.OK, CONTENT_TYPES[".js"], config_js, head)
            elif route == "/vendor/socket.io.min.js":
                if CLIENT_JS.is_file():
                    self._send(HTTPStatus.OK, CONTENT_TYPES[".js"], CLIENT_JS.read_bytes(), head)
                else:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                               b"socket.io client missing: run `npm ci --prefix web`\n", head)
            else:
                file = resolve(self.path)
                if file is None:
                    self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                               b"not found\n", head)
                else:
                    content_type = CONTENT_TYPES.get(file.suffix) or (
                        mimetypes.guess_type(file.name)[0] or "application/octet-stream")
                    self._send(HTTPStatus.OK, content_type, file.read_bytes(), head)

        def _send(self, status: int, content_type: str, body: bytes, head: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Permissions-Policy", PERMISSIONS_POLICY)
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cache-Control", "no-cache")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            if not quiet:
                super().log_message(format, *args)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--socket-url", default="http://localhost:5005",
                        help="the Rasa server the widget connects to (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no request log")
    args = parser.parse_args(argv)
    try:
        handler = make_handler(args.socket_url, args.quiet)
    except ValueError as error:
        parser.error(str(error))
    if not CLIENT_JS.is_file():
        print("warning: web/node_modules missing, run `npm ci --prefix web`", file=sys.stderr)
    server = ThreadingHTTPServer((args.host, args.port), handler)
    print(f"widget demo on http://{args.host}:{args.port}/ (Rasa at {args.socket_url})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
