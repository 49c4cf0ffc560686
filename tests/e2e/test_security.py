"""Security defaults on the real servers: the HTTP API off (JWT when on), the action
server only for callers with the shared token, CORS closed for other sites."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from tests.e2e.stack import PROJECT_ROOT, RASA_COMMAND, RasaStack

pytestmark = pytest.mark.e2e


def status_of(request: urllib.request.Request | str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_http_api_is_off_by_default(stack):
    base = f"http://127.0.0.1:{stack.rasa_port}"
    stack.send("api-probe", "hi")
    for path in ("/conversations/api-probe/tracker", "/status", "/domain", "/model/parse"):
        assert status_of(base + path)[0] == 404, path


def test_action_server_answers_only_with_the_shared_token(stack):
    url = f"http://127.0.0.1:{stack.action_port}/webhook"
    body = json.dumps({"next_action": "action_answer_question", "sender_id": "x",
                       "tracker": {"sender_id": "x", "events": [], "slots": {},
                                   "latest_message": {"text": "hi"}},
                       "domain": {}}).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": stack.token}):
        request = urllib.request.Request(url, data=body, headers={
            "Content-Type": "application/json", **headers})
        assert status_of(request)[0] == 401, headers
    assert status_of(f"http://127.0.0.1:{stack.action_port}/health")[0] == 200
    assert listening_addresses(stack.action_port) == {"127.0.0.1"}  # loopback only


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
            found.add(str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1])))
    return found


def test_rest_channel_sends_no_cors_grant_to_other_sites(stack):
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook",
        data=json.dumps({"sender": "cors-probe", "message": "hi"}).encode(),
        headers={"Content-Type": "application/json", "Origin": "https://evil.example"},
    )
    status, headers = status_of(request)
    assert status == 200
    assert not any(k.lower().startswith("access-control-allow") for k in headers)


def test_launcher_refuses_the_api_without_jwt():
    result = subprocess.run(
        [*RASA_COMMAND, "run", "--enable-api"], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "ACTION_SERVER_TOKEN": "t"},
    )
    assert result.returncode == 2
    assert "RASA_JWT_SECRET" in result.stderr


def test_http_api_when_enabled_needs_a_valid_jwt(tmp_path):
    secret = "test-only-jwt-secret"
    api = RasaStack(tmp_path, rasa_args=("--enable-api",), env={"RASA_JWT_SECRET": secret})
    with api.running():
        api.send("jwt-probe", "my b12 is 187 pmol/L")
        url = f"http://127.0.0.1:{api.rasa_port}/conversations/jwt-probe/tracker"

        def get(token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return status_of(urllib.request.Request(url, headers=headers))[0]

        admin = {"user": {"username": "ops", "role": "admin"}}
        assert get(None) == 401
        assert get(jwt.encode(admin, "wrong-secret", algorithm="HS256")) == 401
        other_user = {"user": {"username": "someone-else", "role": "user"}}
        assert get(jwt.encode(other_user, secret, algorithm="HS256")) == 403
        assert get(jwt.encode(admin, secret, algorithm="HS256")) == 200
