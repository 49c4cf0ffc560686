"""The deployment files, parsed and checked against the runtime contract (README.md, "Deploying").

Nothing here runs docker, kubectl or nginx, and nothing touches the network: the files are
read with PyYAML (docker-compose.yml, deploy/k8s/) or a small parser (deploy/nginx.conf,
Dockerfile), and each test states one property the deployment relies on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from web import serve as web_serve  # the widget's own server: its CSP, files and config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
NGINX = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = "secret.template.yaml"

# Names whose values are secrets: they must never be written into a manifest.
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|_AUTH$|_KEY$")
BACKENDS = ("actions", "postgres", "redis")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# nginx variables that may reveal message text (or session ids) in an access log line.
LEAKY_LOG_VARIABLES = {"request", "request_uri", "args", "query_string", "request_body",
                       "http_referer", "http_cookie", "is_args"}
MAX_BODY_BYTES = 64 * 1024
MAX_PROXY_TIMEOUT_S = 120


# ---------------------------------------------------------------- shared helpers


def pinned(image: str) -> bool:
    """A digest, or a tag carrying at least major.minor (never "latest", never untagged)."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return False
    return tag != "latest" and re.match(r"\d+\.\d+", tag) is not None


def tagged(image: str) -> bool:
    """Our own images: any explicit tag but "latest"."""
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def rasa_options(command: list[str]) -> dict[str, str]:
    """The options of the Rasa launcher's command line; fails unless it is the launcher."""
    assert command[:4] == ["python", "-m", "rasa_server", "run"], command
    rest = command[4:]
    assert "--enable-api" not in rest, "Rasa's HTTP API must stay off"
    assert len(rest) % 2 == 0, f"every option takes one value: {rest}"
    return dict(zip(rest[::2], rest[1::2], strict=True))


def check_rasa_command(command: list[str]) -> None:
    options = rasa_options(command)
    assert options.get("--endpoints") == "endpoints.yml"
    assert options.get("--credentials") == "credentials.yml"
    assert options.get("--interface") == "0.0.0.0"
    assert options.get("--port") == "5005"
    model = options.get("--model", "")
    assert model.endswith(".tar.gz"), model
    assert model in dockerfile_text(), f"the image must contain {model}"


def quantity(value: Any) -> float:
    """A Kubernetes quantity (cpu or memory) as a number of base units."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# ---------------------------------------------------------------- docker-compose.yml

# "$$" is an escaped dollar; "${VAR...}" and "$VAR" are interpolated from .env.
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, Any]:
    return compose()["services"]


@cache
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z_]\w*)=(.*)$", line)
        if match:
            values[match[1]] = match[2].strip()
    return values


def strings(node: Any) -> Iterator[str]:
    """Every string value under ``node`` (what compose interpolates; never comments or keys)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def compose_variables() -> set[str]:
    return {m[1] or m[4] for text in strings(compose()) for m in _INTERPOLATION.finditer(text)
            if m[0] != "$$"}


def interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose's interpolation of ``value`` with ``env`` (a required empty value -> <VAR>)."""

    def substitute(m: re.Match) -> str:
        if m[0] == "$$":
            return "$"
        name, operator, argument = m[1] or m[4], m[2], m[3]
        current = env.get(name)
        if operator in (":-", "-"):
            use_default = current is None or (operator == ":-" and current == "")
            return argument if use_default else current
        if operator in (":?", "?") and not current:
            return f"<{name}>"
        return current or ""

    return _INTERPOLATION.sub(substitute, str(value))


def service_env(name: str) -> dict[str, str]:
    env = services()[name].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def service_networks(name: str) -> set[str]:
    networks = services()[name].get("networks")
    if networks is None:
        return {"default"}
    return set(networks)


def internal_networks() -> set[str]:
    return {name for name, spec in (compose().get("networks") or {}).items()
            if (spec or {}).get("internal") is True}


def required_variable(value: str) -> str | None:
    """The variable of a value that is exactly one required interpolation ``${VAR:?...}``."""
    match = re.fullmatch(r"\$\{(\w+):\?[^}]*\}", value)
    return match[1] if match else None


def url_password(value: str) -> str | None:
    match = re.match(r"[a-z0-9+]+://[^:@/]*:([^@]*)@", value)
    return match[1] if match else None


def compose_replicas(name: str, env: dict[str, str]) -> int:
    return int(interpolate((services()[name].get("deploy") or {}).get("replicas", 1), env))


ENV_SCENARIOS = {"env.example": env_example, "compose defaults": dict}


def test_compose_images_are_pinned():
    for name, service in services().items():
        image = interpolate(service.get("image", ""), env_example())
        assert image, f"{name}: no image"
        if "build" in service:
            assert tagged(image), f"{name}: the built image needs an explicit tag: {image}"
        else:
            assert pinned(image), f"{name}: {image} is not pinned to a version"


def test_only_the_proxy_publishes_ports():
    publishing = {name for name, s in services().items() if s.get("ports")}
    assert publishing == {"proxy"}
    for name, service in services().items():
        assert service.get("network_mode") != "host", name


def test_backends_are_on_internal_networks_only():
    internal = internal_networks()
    for name in BACKENDS:
        networks = service_networks(name)
        assert networks <= internal, f"{name} is on a network with outside access: {networks}"
    assert not service_networks("proxy") & internal, "the proxy must not reach the backends"


def test_rasa_shares_a_network_with_what_it_talks_to():
    for name in (*BACKENDS, "proxy"):
        assert service_networks("rasa") & service_networks(name), f"rasa cannot reach {name}"


def test_every_compose_variable_is_documented_in_env_example():
    used = compose_variables()
    missing = used - set(env_example())
    assert not missing, f"add to deploy/env.example: {sorted(missing)}"


def test_compose_secrets_come_from_the_env_file():
    for name in services():
        for key, value in service_env(name).items():
            if SECRET_NAME.search(key):
                # Required (${VAR:?...}) or off when unset (${VAR:-}), never a default value.
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)?\}", value), (
                    f"{name}.{key} must be a ${{VAR}} from .env, without a default value")
            password = url_password(value)
            if password is not None:
                assert required_variable(password), f"{name}.{key}: literal password in URL"
    values = list(strings(compose()))
    for key in ("ACTION_SERVER_TOKEN", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert any(f"${{{key}:?" in v for v in values), f"{key} must be required (:?)"
    shipped = {key: value for key, value in env_example().items() if SECRET_NAME.search(key)}
    assert shipped and not any(shipped.values()), f"env.example ships secret values: {shipped}"


def test_rasa_service_meets_the_runtime_contract():
    check_rasa_command(services()["rasa"]["command"])
    env = service_env("rasa")
    assert env.get("RASA_TELEMETRY_ENABLED") == "false"
    assert "SANIC_WORKERS" in env
    assert "RASA_JWT_SECRET" not in env, "the HTTP API is off: no JWT secret needed"
    example = env_example()

    action_url = urlsplit(env["ACTION_SERVER_URL"])
    assert action_url.hostname in services(), "ACTION_SERVER_URL must name a compose service"
    actions_command = services()[action_url.hostname]["command"]
    assert actions_command[:3] == ["python", "-m", "actions.server"]
    assert str(action_url.port) == actions_command[actions_command.index("--port") + 1]
    assert action_url.path == "/webhook"

    token = required_variable(env["ACTION_SERVER_TOKEN"])
    assert token and token == required_variable(service_env("actions")["ACTION_SERVER_TOKEN"])

    tracker = urlsplit(interpolate(env["TRACKER_STORE_URL"], example))
    assert tracker.scheme.startswith("postgresql")
    postgres = service_env(tracker.hostname)
    assert tracker.port == 5432
    assert tracker.username == postgres["POSTGRES_USER"]
    assert tracker.path == "/" + postgres["POSTGRES_DB"]
    assert url_password(env["TRACKER_STORE_URL"]) == postgres["POSTGRES_PASSWORD"]

    lock = urlsplit(interpolate(env["LOCK_STORE_URL"], example))
    assert lock.scheme == "redis" and lock.port == 6379
    assert url_password(env["LOCK_STORE_URL"]) == service_env(lock.hostname)["REDIS_PASSWORD"]


def test_action_service_meets_the_runtime_contract():
    assert services()["actions"]["command"] == ["python", "-m", "actions.server", "--port", "5055"]
    env = service_env("actions")
    assert env.get("SANIC_HOST") == "0.0.0.0"
    assert required_variable(env.get("ACTION_SERVER_TOKEN", ""))


@pytest.mark.parametrize("scenario", ENV_SCENARIOS)
def test_lock_store_whenever_more_than_one_rasa_process(scenario):
    env = ENV_SCENARIOS[scenario]()
    replicas = compose_replicas("rasa", env)
    workers = int(interpolate(service_env("rasa").get("SANIC_WORKERS", "1"), env))
    assert replicas >= 2 and compose_replicas("actions", env) >= 2, "scale-out: 2+ of each"
    if replicas * workers > 1:
        lock_store = service_env("rasa").get("LOCK_STORE_URL", "")
        assert lock_store.startswith(("redis://", "rediss://")), (
            f"{replicas} x {workers} Rasa processes need the Redis lock store")


def test_every_service_is_health_checked_and_started_in_order():
    for name, service in services().items():
        assert (service.get("healthcheck") or {}).get("test"), f"{name}: no healthcheck"
        assert not service["healthcheck"].get("disable"), name
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            assert spec.get("condition") == "service_healthy", f"{name} -> {target}"
    assert set(services()["rasa"]["depends_on"]) >= set(BACKENDS)
    assert "rasa" in services()["proxy"]["depends_on"]
    assert "127.0.0.1:5005/'" in str(services()["rasa"]["healthcheck"]["test"])
    assert ":5055/health" in str(services()["actions"]["healthcheck"]["test"])


def test_scaled_services_have_no_fixed_container_name():
    for name in ("rasa", "actions"):
        assert "container_name" not in services()[name], f"{name} could not be scaled"


# ---------------------------------------------------------------- deploy/nginx.conf


class Directive:
    def __init__(self, name: str, args: list[str], block: list[Directive] | None):
        self.name, self.args, self.block = name, args, block

    def __repr__(self) -> str:
        return f"{self.name} {' '.join(self.args)}"


def nginx_tokens(text: str) -> Iterator[str]:
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif char in ";{}":
            yield char
            i += 1
        elif char in "'\"":
            end = i + 1
            while text[end] != char:
                end += 2 if text[end] == "\\" else 1
            yield text[i + 1 : end]
            i = end + 1
        else:
            match = re.compile(r"[^\s;{}]+").match(text, i)
            yield match[0]
            i = match.end()


def nginx_parse(tokens: Iterator[str]) -> list[Directive]:
    directives: list[Directive] = []
    words: list[str] = []
    for token in tokens:
        if token == ";":
            directives.append(Directive(words[0], words[1:], None))
            words = []
        elif token == "{":
            directives.append(Directive(words[0], words[1:], nginx_parse(tokens)))
            words = []
        elif token == "}":
            return directives
        else:
            words.append(token)
    assert not words, f"unterminated directive {words}"
    return directives


@cache
def nginx() -> list[Directive]:
    return nginx_parse(nginx_tokens(NGINX.read_text(encoding="utf-8")))


def children(block: list[Directive], name: str) -> list[Directive]:
    return [d for d in block if d.name == name]


def walk(block: list[Directive]) -> Iterator[Directive]:
    for directive in block:
        yield directive
        if directive.block:
            yield from walk(directive.block)


def http_block() -> list[Directive]:
    (http,) = children(nginx(), "http")
    return http.block


def server_block() -> list[Directive]:
    (server,) = children(http_block(), "server")
    return server.block


def location(path: str) -> list[Directive]:
    for directive in children(server_block(), "location"):
        if directive.args[-1] == path:
            return directive.block
    raise AssertionError(f"nginx.conf has no location {path}")


def effective(name: str, *blocks: list[Directive]) -> list[str] | None:
    """The arguments of ``name`` as nginx inherits it: innermost block first."""
    for block in blocks:
        found = children(block, name)
        if found:
            return found[-1].args
    return None


def upstream(proxy_pass: list[str]) -> list[Directive]:
    target = urlsplit(proxy_pass[0]).hostname
    for directive in children(http_block(), "upstream"):
        if directive.args == [target]:
            return directive.block
    raise AssertionError(f"proxy_pass {proxy_pass} does not go to an upstream block")


def headers(block: list[Directive]) -> dict[str, list[str]]:
    return {d.args[0].lower(): d.args[1:] for d in children(block, "add_header")}


def size_in_bytes(text: str) -> int:
    factor = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(text[-1].lower(), 1)
    return int(text.rstrip("kKmMgG")) * factor


def seconds(text: str) -> float:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", text)
    return int(match[1]) * factor[match[2] or "s"]


def test_nginx_proxies_socketio_with_websocket_upgrade():
    block = location("/socket.io/")
    assert effective("proxy_http_version", block) == ["1.1"]
    set_headers = {d.args[0].lower(): d.args[1] for d in children(block, "proxy_set_header")}
    assert set_headers.get("upgrade") == "$http_upgrade"
    connection = set_headers.get("connection", "")
    if connection.startswith("$"):
        maps = [d for d in children(http_block(), "map") if d.args[1] == connection]
        assert maps and maps[0].args[0] == "$http_upgrade", f"{connection} is not mapped"
    else:
        assert connection.lower() == "upgrade"
    assert effective("proxy_read_timeout", block, server_block(), http_block()), "no timeout"


def test_nginx_routes_rasa_traffic_through_a_sticky_upstream():
    for path in ("/socket.io/", "/webhooks/"):
        block = upstream(effective("proxy_pass", location(path)))
        balancing = children(block, "ip_hash") + children(block, "hash")
        assert balancing, f"{path}: upstream is not sticky (ip_hash or hash ... consistent)"
        if balancing[0].name == "hash":
            assert "consistent" in balancing[0].args
            assert re.search(r"remote_addr|forwarded_for", balancing[0].args[0])
        servers = [urlsplit("//" + d.args[0]) for d in children(block, "server")]
        assert servers and all(s.hostname == "rasa" and s.port == 5005 for s in servers)
    assert "rasa" in services()


def test_nginx_rate_limits_the_webhooks_and_keeps_rest_off():
    zones = {re.search(r"zone=(\w+)", " ".join(d.args))[1]
             for d in children(http_block(), "limit_req_zone")}
    for path in ("/webhooks/", "/socket.io/"):
        limits = children(location(path), "limit_req")
        assert limits, f"{path} is not rate limited"
        assert re.search(r"zone=(\w+)", limits[0].args[0])[1] in zones
    rest = location("/webhooks/rest/")
    assert not children(rest, "proxy_pass") and children(rest, "return"), "REST is exposed"


def test_nginx_bounds_body_size_and_timeouts():
    size = effective("client_max_body_size", server_block(), http_block())
    assert size and 0 < size_in_bytes(size[0]) <= MAX_BODY_BYTES
    for name in ("proxy_connect_timeout", "client_body_timeout", "client_header_timeout"):
        value = effective(name, server_block(), http_block())
        assert value and seconds(value[0]) <= 10, f"{name}: {value}"
    for directive in walk(server_block()):
        if directive.name == "location" and children(directive.block, "proxy_pass"):
            for name in ("proxy_read_timeout", "proxy_send_timeout"):
                value = effective(name, directive.block, server_block(), http_block())
                assert value and seconds(value[0]) <= MAX_PROXY_TIMEOUT_S, f"{directive}: {name}"


def test_nginx_security_headers_reach_every_response():
    sent = headers(server_block())
    for name, value in (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")):
        assert sent.get(name, [None])[0] == value, name
    assert all(args[-1] == "always" for args in sent.values()), "errors need headers too"
    policy = dict(part.strip().split(" ", 1)
                  for part in sent["content-security-policy"][0].split(";"))
    reference = dict(part.split(" ", 1)
                     for part in web_serve.content_security_policy("http://x").split("; "))
    assert policy.keys() == reference.keys(), "CSP directives differ from web/serve.py's"
    for directive, value in reference.items():
        if directive != "connect-src":
            assert policy[directive] == value, directive
    assert policy["frame-ancestors"] == "'none'"
    # nginx drops every inherited add_header in a block that has one of its own.
    for directive in walk(server_block()):
        if directive.block is not None:
            assert not children(directive.block, "add_header"), f"add_header in {directive}"


def test_nginx_access_log_keeps_message_text_out():
    formats = {d.args[0]: "".join(d.args[1:]) for d in children(http_block(), "log_format")}
    logs = [d for d in walk(nginx()) if d.name == "access_log" and d.args != ["off"]]
    assert logs, "no access log at all"
    for log in logs:
        assert len(log.args) >= 2 and log.args[1] in formats, f"{log} uses the default format"
        variables = set(re.findall(r"\$\{?(\w+)", formats[log.args[1]]))
        leaks = sorted(v for v in variables if v in LEAKY_LOG_VARIABLES or v.startswith("arg_"))
        assert not leaks, f"log format {log.args[1]} records {leaks}"


def test_nginx_config_js_matches_the_demo_configuration():
    (body,) = [d.args[-1] for d in children(location("/config.js"), "return")]
    assert '"socketUrl": window.location.origin' in body
    for key, value in web_serve.DEMO_CONFIG.items():
        assert f"{json.dumps(key)}: {json.dumps(value)}" in body, key


# ---------------------------------------------------------------- Dockerfile, .dockerignore


@cache
def dockerfile_text() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


@cache
def dockerfile_stages() -> list[dict[str, Any]]:
    """[{"image", "name", "instructions": [(KEYWORD, arguments)]}] in file order."""
    logical = re.sub(r"\\\n", " ", dockerfile_text())
    stages: list[dict[str, Any]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) > 2 and words[1].lower() == "as" else None
            stages.append({"image": words[0], "name": name, "instructions": []})
        else:
            stages[-1]["instructions"].append((keyword, rest.strip()))
    return stages


def stage(name: str | None = None) -> dict[str, Any]:
    if name is None:
        return dockerfile_stages()[-1]
    return next(s for s in dockerfile_stages() if s["name"] == name)


def instructions(keyword: str, of: dict[str, Any] | None = None) -> list[str]:
    stages = [of] if of else dockerfile_stages()
    return [rest for s in stages for kw, rest in s["instructions"] if kw == keyword]


def test_dockerfile_bases_are_pinned():
    names = set()
    for s in dockerfile_stages():
        if s["image"] not in names:
            assert pinned(s["image"]), f"FROM {s['image']} is not pinned to a version"
        names.add(s["name"])
    assert re.fullmatch(r"python:3\.10\.\d+-slim(-\w+)?", stage()["image"]), stage()["image"]


def test_dockerfile_images_run_as_non_root():
    targets = {None} | {d["build"].get("target") for d in services().values() if "build" in d}
    for target in targets:
        users = instructions("USER", stage(target))
        assert users, f"stage {target or 'final'} has no USER"
        user = users[-1].split(":")[0]
        assert user not in ("root", "0"), f"stage {target or 'final'} runs as root"


def test_dockerfile_installs_pinned_requirements():
    installs = [run for run in instructions("RUN") if "pip install" in run]
    assert any("-r requirements.txt" in run and "-c constraints.txt" in run for run in installs)


def test_dockerfile_builds_what_the_model_and_the_action_server_load():
    runs = " ".join(instructions("RUN"))
    for step in ("b12core.spacy_model", "b12core.kb build", "rasa train"):
        assert step in runs, f"the image does not run {step}"
    (command,) = instructions("CMD", stage())
    check_rasa_command(json.loads(command))


def test_dockerfile_bakes_in_no_secrets():
    for keyword in ("ENV", "ARG", "LABEL"):
        for rest in instructions(keyword):
            names = re.findall(r"([A-Za-z_]\w*)=", rest) or rest.split()[:1]
            secrets = [n for n in names if SECRET_NAME.search(n.upper())]
            assert not secrets, f"{keyword} {secrets}: secrets belong in the environment"
    for rest in instructions("COPY") + instructions("ADD"):
        assert ".env" not in rest.split(), f"COPY {rest}"


def test_dockerignore_keeps_local_state_out():
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for needed in (".git", ".venv", ".env", "test-artifacts", "models"):
        assert {needed, f"**/{needed}"} & patterns, f".dockerignore misses {needed}"
    # "*.db" would match at the top of the context only, not var/tracker.db.
    assert {"var", "var/tracker.db", "**/*.db"} & patterns, "the SQLite tracker store would ship"


def test_proxy_image_serves_the_widget_files():
    copied = " ".join(instructions("COPY", stage("proxy")))
    web = ROOT / "web"
    for path in web.rglob("*"):
        relative = path.relative_to(web)
        if (path.is_file() and path.suffix in web_serve.SERVED_SUFFIXES
                and not any(p in web_serve.PRIVATE_PARTS or p.startswith(".")
                            for p in relative.parts)):
            assert f"web/{relative.as_posix()}" in copied.split(), f"proxy misses web/{relative}"
    assert "socket.io.min.js" in copied and "/vendor/" in copied


# ---------------------------------------------------------------- deploy/k8s


@cache
def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def kinds(*wanted: str) -> list[dict[str, Any]]:
    return [doc for name, doc in manifests() if doc["kind"] in wanted and name != SECRET_TEMPLATE]


def workloads() -> list[dict[str, Any]]:
    return kinds(*WORKLOAD_KINDS)


def pod_labels(target: dict[str, Any]) -> dict[str, str]:
    return target["spec"]["template"]["metadata"]["labels"]


def containers(target: dict[str, Any]) -> list[dict[str, Any]]:
    spec = target["spec"]["template"]["spec"]
    return spec["containers"] + spec.get("initContainers", [])


def workload(component: str) -> dict[str, Any]:
    (found,) = [w for w in workloads() if w["metadata"]["name"] == component]
    return found


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if selector is None:
        return False
    if not ({"matchLabels", "matchExpressions"} & selector.keys()):
        selector = {"matchLabels": selector}  # a Service's plain map
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get(
            "values", [])
        present = key in labels
        if not {"In": present and labels[key] in values,
                "NotIn": not present or labels[key] not in values,
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def container_ports(target: dict[str, Any]) -> set[Any]:
    ports = set()
    for container in containers(target):
        for port in container.get("ports", []):
            ports |= {port["containerPort"], port.get("name")}
    return ports - {None}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's variables: ConfigMap values through envFrom, then its own entries."""
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in kinds("ConfigMap")}
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


def service_for(host: str, port: int) -> dict[str, Any]:
    """The workload behind the Service ``host`` whose port ``port`` reaches a pod port."""
    service = next(s for s in kinds("Service") if s["metadata"]["name"] == host)
    spec_port = next(p for p in service["spec"]["ports"] if p["port"] == port)
    (target,) = [w for w in workloads() if selects(service["spec"]["selector"], pod_labels(w))]
    assert spec_port.get("targetPort", port) in container_ports(target)
    return target


def secret_template() -> dict[str, Any]:
    (secret,) = [doc for name, doc in manifests() if name == SECRET_TEMPLATE]
    return secret


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", SECRET_TEMPLATE}
    assert listed == present
    for image in kustomization.get("images", []):
        assert pinned(f"{image['newName']}:{image.get('newTag', '')}"), image


def test_k8s_images_are_pinned():
    for target in workloads():
        for container in containers(target):
            assert pinned(container["image"]), container["image"]


def test_workload_selectors_match_their_pod_labels_only():
    for target in workloads():
        selector = target["spec"]["selector"]
        assert selector.get("matchLabels") or selector.get("matchExpressions")
        assert selects(selector, pod_labels(target)), target["metadata"]["name"]
        for other in workloads():
            if other is not target:
                assert not selects(selector, pod_labels(other)), (
                    f"{target['metadata']['name']} also selects {other['metadata']['name']}")


def test_services_select_existing_pods_with_matching_ports():
    for service in kinds("Service"):
        selector = service["spec"].get("selector")
        assert selector, service["metadata"]["name"]
        targets = [w for w in workloads() if selects(selector, pod_labels(w))]
        assert len(targets) == 1, f"{service['metadata']['name']} selects {len(targets)} workloads"
        for port in service["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in container_ports(targets[0]), port


def test_every_container_has_probes_on_real_ports():
    for target in workloads():
        for container in containers(target):
            ports = {p["containerPort"] for p in container.get("ports", [])} | {
                p.get("name") for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                spec = container.get(probe)
                assert spec, f"{container['name']}: no {probe}"
                if "httpGet" in spec:
                    assert spec["httpGet"]["port"] in ports, f"{container['name']}.{probe}"
    for component, path in (("rasa", "/"), ("actions", "/health")):
        (container,) = containers(workload(component))
        assert container["readinessProbe"]["httpGet"]["path"] == path


def test_every_container_has_bounded_resources():
    for target in workloads():
        for container in containers(target):
            resources = container.get("resources", {})
            for kind in ("cpu", "memory"):
                request = resources.get("requests", {}).get(kind)
                limit = resources.get("limits", {}).get(kind)
                assert request and limit, f"{container['name']}: {kind} request and limit"
                assert quantity(limit) >= quantity(request), container["name"]
    # Measured: Rasa about 1 GiB resident, the action server about 200 MiB.
    for component, needed in (("rasa", 2**30), ("actions", 200 * 2**20)):
        (container,) = containers(workload(component))
        assert quantity(container["resources"]["limits"]["memory"]) > needed, component
        assert quantity(container["resources"]["requests"]["memory"]) >= needed * 0.9


def test_pods_run_unprivileged_on_read_only_file_systems():
    for target in workloads():
        pod = target["spec"]["template"]["spec"]
        for container in containers(target):
            context = pod.get("securityContext", {}) | container.get("securityContext", {})
            name = container["name"]
            assert context.get("runAsNonRoot") is True, name
            assert context.get("allowPrivilegeEscalation") is False, name
            assert "ALL" in context.get("capabilities", {}).get("drop", []), name
            assert context.get("readOnlyRootFilesystem") is True, name
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"


def test_rasa_and_actions_run_several_replicas():
    for component in ("rasa", "actions"):
        assert workload(component)["spec"]["replicas"] >= 2, component


def test_rasa_deployment_meets_the_runtime_contract():
    (rasa,) = containers(workload("rasa"))
    check_rasa_command(rasa["command"])
    env = env_of(rasa)
    assert env.get("RASA_TELEMETRY_ENABLED") == "false"
    assert "RASA_JWT_SECRET" not in env

    action_url = urlsplit(env["ACTION_SERVER_URL"])
    assert service_for(action_url.hostname, action_url.port) is workload("actions")
    assert action_url.path == "/webhook"
    token = env["ACTION_SERVER_TOKEN"]["secretKeyRef"]
    (actions,) = containers(workload("actions"))
    assert env_of(actions)["ACTION_SERVER_TOKEN"]["secretKeyRef"] == token
    assert env_of(actions).get("SANIC_HOST") == "0.0.0.0"
    assert actions["command"] == ["python", "-m", "actions.server", "--port", "5055"]

    tracker = urlsplit(env["TRACKER_STORE_URL"])
    assert tracker.scheme.startswith("postgresql")
    assert service_for(tracker.hostname, tracker.port) is workload("postgres")

    processes = workload("rasa")["spec"]["replicas"] * int(env.get("SANIC_WORKERS", 1))
    if processes > 1:
        lock = urlsplit(env.get("LOCK_STORE_URL", ""))
        assert lock.scheme in ("redis", "rediss"), f"{processes} Rasa processes need Redis locks"
        assert service_for(lock.hostname, lock.port) is workload("redis")


def test_network_policies_let_only_rasa_reach_the_backends():
    policies = kinds("NetworkPolicy")
    rasa_labels = pod_labels(workload("rasa"))
    others = [pod_labels(w) for w in workloads() if w is not workload("rasa")]
    for component in BACKENDS:
        labels = pod_labels(workload(component))
        isolating = [p for p in policies if selects(p["spec"]["podSelector"], labels)
                     and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
        assert isolating, f"no NetworkPolicy isolates {component}"
        for policy in isolating:
            for rule in policy["spec"].get("ingress") or []:
                assert rule.get("from"), f"{policy['metadata']['name']}: open to everyone"
                assert rule.get("ports"), f"{policy['metadata']['name']}: every port"
                for peer in rule["from"]:
                    assert set(peer) == {"podSelector"}, f"{component}: {peer} is not a pod"
                    assert selects(peer["podSelector"], rasa_labels), peer
                    assert not any(selects(peer["podSelector"], o) for o in others), (
                        f"{component} is reachable from pods other than rasa")


def test_no_plaintext_secrets_in_the_manifests():
    secrets = [(name, doc) for name, doc in manifests() if doc["kind"] == "Secret"]
    assert [name for name, _ in secrets] == [SECRET_TEMPLATE]
    template = secret_template()
    values = {**template.get("stringData", {}), **template.get("data", {})}
    assert values and all("REPLACE" in str(v) for v in values.values()), "not placeholders"
    for configmap in kinds("ConfigMap"):
        for key, value in configmap.get("data", {}).items():
            assert not SECRET_NAME.search(key) and url_password(str(value)) is None, key
    for target in workloads():
        for container in containers(target):
            from_secret = set()
            for entry in container.get("env", []):
                name, ref = entry["name"], (entry.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == template["metadata"]["name"], name
                    assert ref.get("optional") or ref["key"] in values, f"{name}: not in template"
                    from_secret.add(name)
                elif SECRET_NAME.search(name):
                    raise AssertionError(f"{container['name']}.{name} is not from the Secret")
                password = url_password(str(entry.get("value", "")))
                if password is not None:
                    match = re.fullmatch(r"\$\((\w+)\)", password)
                    assert match and match[1] in from_secret, f"{name}: literal password"


def test_ingress_sends_socketio_to_rasa_with_session_affinity():
    routes = {}
    for ingress in kinds("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = next(s for s in kinds("Service") if s["metadata"]["name"] ==
                               backend["name"])
                port = backend["port"].get("name") or backend["port"].get("number")
                assert port in {p.get("name") for p in service["spec"]["ports"]} | {
                    p["port"] for p in service["spec"]["ports"]}, path
                routes[path["path"]] = (ingress, backend["name"])
    assert not any(p.startswith("/webhooks/rest") for p in routes), "REST must not be routed"
    ingress, service = routes["/socket.io"]
    target = next(s for s in kinds("Service") if s["metadata"]["name"] == service)
    assert selects(target["spec"]["selector"], pod_labels(workload("rasa")))
    annotations = ingress["metadata"].get("annotations", {})
    prefix = "nginx.ingress.kubernetes.io/"
    assert (annotations.get(prefix + "affinity") == "cookie"
            or annotations.get(prefix + "upstream-hash-by")), "socket.io needs sticky sessions"
    assert size_in_bytes(annotations[prefix + "proxy-body-size"]) <= MAX_BODY_BYTES
    assert annotations.get(prefix + "limit-rps"), "the bot paths need a rate limit"
