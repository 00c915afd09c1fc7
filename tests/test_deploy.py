"""The deployment files (deploy/, .dockerignore, README "Running in production") against the
real tools and the real command line.

Docker cannot build here, so the Dockerfile is read line by line; what can be run is run: the
systemd unit through ``systemd-analyze verify``, the HEALTHCHECK's Python against a loopback
server, the unit's and the image's command lines through erpsync's own argument parser, and
the example config through :func:`erpsync.config.load_config` with the example secrets.
"""

from __future__ import annotations

import ast
import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "erpsync.service"
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / "erpsync.env.example"
CONFIG_EXAMPLE = DEPLOY / "erpsync.example.toml"
DOCKERIGNORE = ROOT / ".dockerignore"
README = ROOT / "README.md"

CONFIG_PATH = "/etc/erpsync/erpsync.toml"
STATE_DIR = "/var/lib/erpsync"


# --- readers --------------------------------------------------------------------------------


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]}: keys may repeat (SystemCallFilter=),
    so not configparser; comments and blank lines dropped, continuation lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}: {line!r} is outside any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: {line!r} is not KEY=VALUE"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for k, value in section if k == key]


def unit_value(section: list[tuple[str, str]], key: str) -> str:
    values = unit_values(section, key)
    assert len(values) == 1, f"{UNIT.name}: expected one {key}=, found {values}"
    return values[0]


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's argv; fails on the shell form."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(a, str) for a in value), self.args
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"Dockerfile stage {self.name or self.base}: {len(found)} {keyword}"
        return found[0]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                assert sep, f"ENV {instruction.args!r}: write ENV KEY=VALUE"
                values[key] = value
        return values


def read_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages, each instruction on one line (continuations
    joined, comments dropped), ``${ARG}`` in FROM replaced by its default."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue  # a comment (or the syntax directive); blank lines inside a RUN too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value.strip('"')
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return global_args, stages


def arg_default(stage: Stage, name: str) -> str:
    for instruction in stage.all("ARG"):
        key, _, value = instruction.args.partition("=")
        if key == name:
            return shlex.split(value)[0] if value else ""
    raise AssertionError(f"the stage declares no ARG {name}")


# --- .dockerignore, as Docker reads it --------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, list[str]]]:
    """(is_exception, path segments) per pattern, in order (moby's patternmatcher)."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        patterns.append((negated, cleaned.split("/")))
    return patterns


def _segments_match(pattern: Sequence[str], path: Sequence[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_segments_match(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], pattern[0]) and _segments_match(
        pattern[1:], path[1:])


def excluded(relative: str) -> bool:
    """Whether ``relative`` (a path in the build context) stays out of it: the last pattern
    matching the path or one of its parent directories decides."""
    parts = relative.strip("/").split("/")
    verdict = False
    for negated, pattern in dockerignore_patterns():
        if any(_segments_match(pattern, parts[:n]) for n in range(1, len(parts) + 1)):
            verdict = not negated
    return verdict


# --- the command line, parsed but not run --------------------------------------------------


def cli() -> Any:
    """erpsync's command group as typer builds it (a click-like group; newer typers vendor
    their own click, so only its common surface is used: commands, params, make_context)."""
    from erpsync.cli import app

    return typer.main.get_command(app)


def parse_command_line(argv: Sequence[str]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Parse ``argv`` (what follows ``erpsync``) exactly as the CLI would, environment
    variables included, without running anything: (global options, command, its options)."""
    group = cli()
    args = list(argv)
    at = next(i for i, word in enumerate(args) if word in group.commands)
    name = args[at]
    with group.make_context("erpsync", [*args[:at], name]) as ctx:
        command = group.get_command(ctx, name)
        assert command is not None
        with command.make_context(name, args[at + 1:], parent=ctx) as sub:
            return dict(ctx.params), name, dict(sub.params)


def option(command: Any, flag: str) -> Any:
    for param in command.params:
        if flag in getattr(param, "opts", ()):
            return param
    raise AssertionError(f"`erpsync {command.name}` has no {flag} option")


# --- the systemd unit -----------------------------------------------------------------------


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None)
    if analyze is None:
        message = "systemd-analyze is missing: install the Debian package `systemd`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # verify checks that ExecStart's binary exists and is executable: point it at the erpsync
    # this test runs with (the console script beside the interpreter), nothing else changed.
    executable = Path(sys.executable).parent / "erpsync"
    assert executable.exists(), f"{executable} is missing: pip install the project first"
    text = UNIT.read_text(encoding="utf-8")
    assert text.count("/opt/erpsync/bin/erpsync ") == 1
    unit = tmp_path / "erpsync.service"
    unit.write_text(text.replace("/opt/erpsync/bin/erpsync ", f"{executable} "), encoding="utf-8")
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text(encoding="utf-8").replace("KillMode=", "KilMode="),
                      encoding="utf-8")

    def verify(path: Path) -> tuple[int, list[str]]:
        done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                              timeout=30, check=False, env={**os.environ, "SYSTEMD_PAGER": ""})
        lines = (done.stdout + done.stderr).splitlines()
        # Lines about this unit are its problems; others describe the host (no running systemd).
        return done.returncode, [line for line in lines if path.name in line]

    code, problems = verify(unit)
    assert code == 0 and not problems, "\n".join(problems)
    # An unknown key is only a warning with exit status 0: the check above must see it.
    _, problems = verify(broken)
    assert any("KilMode" in line for line in problems), problems


def test_the_unit_runs_erpsync_serve_and_stops_it_cleanly() -> None:
    unit = read_unit(UNIT)
    service = unit["Service"]
    assert unit_value(service, "Type") in {"simple", "exec"}
    argv = shlex.split(unit_value(service, "ExecStart"))
    assert argv[0] == "/opt/erpsync/bin/erpsync"
    assert argv[1:] == ["--config", CONFIG_PATH, "serve"]
    assert unit_value(service, "Restart") == "on-failure"
    assert float(unit_value(service, "RestartSec").removesuffix("s")) >= 1
    assert unit_value(service, "KillSignal") == "SIGTERM"
    assert unit_value(service, "KillMode") in {"mixed", "main"}
    # erpsync lets running flows finish their current record: a minute or more on slow vendors
    assert int(unit_value(service, "TimeoutStopSec").removesuffix("s")) >= 90
    assert shlex.split(unit_value(service, "ExecReload")) == ["/bin/kill", "-HUP", "$MAINPID"]
    assert unit_value(unit["Install"], "WantedBy") == "multi-user.target"


def test_the_unit_gives_secrets_state_and_a_user_of_its_own() -> None:
    service = read_unit(UNIT)["Service"]
    env_files = unit_values(service, "EnvironmentFile")
    credentials = unit_values(service, "LoadCredential") + unit_values(
        service, "LoadCredentialEncrypted")
    assert env_files or credentials
    assert env_files == ["-/etc/erpsync/erpsync.env"]  # optional: credentials may replace it
    # The credentials example in the comments names the directory the config must refer to.
    assert "/run/credentials/erpsync.service/" in UNIT.read_text(encoding="utf-8")
    assert "/var/lib/" + unit_value(service, "StateDirectory") == STATE_DIR
    dynamic = unit_values(service, "DynamicUser") == ["yes"]
    user = unit_values(service, "User")
    assert dynamic or (user and user[0] not in {"root", "0"})
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes"}
    for key, value in hardening.items():
        assert unit_value(service, key) == value
    # ProtectSystem=strict leaves only the StateDirectory writable: nothing may take it away.
    for key in ("ReadOnlyPaths", "InaccessiblePaths", "TemporaryFileSystem"):
        assert not any(STATE_DIR in v or v.strip() == "/var" for v in unit_values(service, key))


# --- the Dockerfile and its build context ---------------------------------------------------


def test_the_image_runs_as_a_user_with_its_state_on_a_volume() -> None:
    _, stages = read_dockerfile(DOCKERFILE)
    final = stages[-1]
    assert re.fullmatch(r"python:3\.1[12]-slim", final.base), final.base
    user = final.all("USER")[-1].args.split(":")[0]
    assert user not in {"root", "0", ""}
    # No instruction after USER runs as root again, and USER comes before the command.
    keywords = [i.keyword for i in final.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    volumes = [json.loads(v.args) if v.args.startswith("[") else v.args.split()
               for v in final.all("VOLUME")]
    assert [STATE_DIR] in volumes
    env = final.env()
    assert env["ERPSYNC_SERVICE_HOST"] == "0.0.0.0"  # noqa: S104 - the published port reaches it
    port = env["ERPSYNC_SERVICE_PORT"]
    assert port == "8470"
    assert final.one("EXPOSE").args.split() == [port]
    assert final.one("STOPSIGNAL").args == "SIGTERM"
    assert final.one("ENTRYPOINT").exec_form() == ["erpsync"]


def test_the_image_is_built_from_wheels_without_build_tools_or_editable_installs() -> None:
    global_args, stages = read_dockerfile(DOCKERFILE)
    assert len(stages) >= 2, "build the wheels in a stage of their own"
    build, final = stages[0], stages[-1]
    build_runs = " ".join(i.args for i in build.all("RUN"))
    assert "pip wheel" in build_runs
    final_runs = " ".join(i.args for i in final.all("RUN"))
    everything = build_runs + " " + final_runs
    assert not re.search(r"(^|\s)(-e|--editable)(\s|=)", everything), "no editable installs"
    assert "pip install" in final_runs and "--no-index" in final_runs
    assert f"from={build.name}" in final_runs or f"--from={build.name}" in " ".join(
        i.args for i in final.all("COPY"))
    for tool in ("gcc", "build-essential", "apt-get install", "git "):
        assert tool not in final_runs, f"the final image installs {tool.strip()}"
    # Every plugin distribution in the repository is built by default.
    plugins = shlex.split(arg_default(build, "PLUGINS"))
    on_disk = sorted(p.parent.relative_to(ROOT).as_posix()
                     for p in ROOT.glob("plugins/*/pyproject.toml"))
    assert sorted(plugins) == on_disk
    assert global_args["PYTHON_IMAGE"] == final.base


def test_every_copy_source_is_in_the_build_context() -> None:
    _, stages = read_dockerfile(DOCKERFILE)
    copied: list[str] = []
    for stage in stages:
        for instruction in stage.all("COPY"):
            words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
            if "--from=" in instruction.args:
                continue
            copied += words[:-1]
    assert copied
    for source in copied:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        assert not excluded(source), f"COPY {source}: .dockerignore leaves it out"
        if path.is_dir():
            # Everything in it but caches and build leftovers: sources, py.typed, templates.
            needed = [p for p in path.rglob("*")
                      if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
                      and not any(part.endswith(".egg-info") for part in p.parts)]
            assert any(p.name == "pyproject.toml" or p.suffix == ".py" for p in needed), (
                f"COPY {source}: nothing to build in it")
            left_out = [p for p in needed if excluded(p.relative_to(ROOT).as_posix())]
            assert not left_out, f".dockerignore leaves out {left_out[:3]}"
    # What the core's pyproject.toml names (its readme) is copied beside it.
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "readme"]
    assert readme in copied


def test_the_dockerignore_keeps_local_clutter_out() -> None:
    for path in (".venv/bin/python", ".git/HEAD", ".nox/tests/bin/python",
                 "core/erpsync/__pycache__/cli.cpython-311.pyc", ".mypy_cache/3.11/x.json",
                 ".ruff_cache/x", ".pytest_cache/v/x", "core/erpsync.egg-info/PKG-INFO",
                 "plugins/netvisor/erpsync_netvisor.egg-info/SOURCES.txt", "build/lib/x.py",
                 "dist/erpsync-0.1.0-py3-none-any.whl", "state/cache.db"):
        assert excluded(path), f".dockerignore lets {path} into the build context"
    for path in ("pyproject.toml", "README.md", "core/erpsync/cli.py",
                 "plugins/fortnox/pyproject.toml", "plugins/fortnox/erpsync_fortnox/plugin.py"):
        assert not excluded(path), f".dockerignore leaves out {path}"


# --- the HEALTHCHECK, run for real -------------------------------------------------------------


def healthcheck_snippet() -> tuple[Instruction, str]:
    _, stages = read_dockerfile(DOCKERFILE)
    check = stages[-1].one("HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"] and len(argv) == 3, argv
    return Instruction("HEALTHCHECK", options), argv[2]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012 - one server per test, set below

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Health", (_Health,), {"seen": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_asks_healthz_on_the_configured_port(
    health_server: tuple[int, type[_Health]],
) -> None:
    options, snippet = healthcheck_snippet()
    compile(snippet, "HEALTHCHECK", "exec")
    # The port: ERPSYNC_SERVICE_PORT when set, else the image's own default of it.
    _, stages = read_dockerfile(DOCKERFILE)
    default = stages[-1].env()["ERPSYNC_SERVICE_PORT"]
    tree = ast.parse(snippet)
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {"ERPSYNC_SERVICE_PORT", default} <= literals
    assert re.search(r"--timeout=\d+s", options.args)

    port, handler = health_server

    def run(port: int) -> int:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ERPSYNC_SERVICE_PORT": str(port)}
        return subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True,
                              timeout=30, check=False).returncode

    assert run(port) == 0
    assert handler.seen == [("/healthz", None)]  # /healthz never needs the token
    handler.status = 503
    assert run(port) != 0
    with socket.socket() as closed:  # a port nothing listens on: the service is down
        closed.bind(("127.0.0.1", 0))
        assert run(closed.getsockname()[1]) != 0


# --- command lines and environment variables, parsed by erpsync's CLI --------------------------


def test_the_units_command_line_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ERPSYNC_CONFIG", "ERPSYNC_SERVICE_HOST", "ERPSYNC_SERVICE_PORT",
                 "ERPSYNC_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    argv = shlex.split(unit_value(read_unit(UNIT)["Service"], "ExecStart"))[1:]
    options, command, _ = parse_command_line(argv)
    assert command == "serve"
    assert Path(str(options["config"])) == Path(CONFIG_PATH)


def test_the_images_command_line_and_environment_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    _, stages = read_dockerfile(DOCKERFILE)
    final = stages[-1]
    for name in ("ERPSYNC_CONFIG", "ERPSYNC_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    env = final.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = final.one("ENTRYPOINT").exec_form() + final.one("CMD").exec_form()
    assert argv[0] == "erpsync"
    options, command, serve = parse_command_line(argv[1:])
    assert command == "serve"
    assert Path(str(options["config"])) == Path(CONFIG_PATH)
    if "ERPSYNC_CONFIG" in env:  # what `docker exec NAME erpsync status` relies on
        assert Path(env["ERPSYNC_CONFIG"]) == Path(CONFIG_PATH)
    # The image's ENV reaches `serve` as its --host and --port.
    assert serve["host"] == env["ERPSYNC_SERVICE_HOST"]
    assert int(str(serve["port"])) == int(env["ERPSYNC_SERVICE_PORT"])


def test_the_environment_variables_the_deployment_names_are_the_clis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = cli()
    serve = group.commands["serve"]
    assert option(group, "--config").envvar == "ERPSYNC_CONFIG"
    assert option(serve, "--host").envvar == "ERPSYNC_SERVICE_HOST"
    assert option(serve, "--port").envvar == "ERPSYNC_SERVICE_PORT"
    assert option(group, "--log-format").envvar == "ERPSYNC_LOG_FORMAT"
    for fmt in ("text", "json"):  # the values the unit, the image and the README use
        monkeypatch.setenv("ERPSYNC_LOG_FORMAT", fmt)
        options, _, _ = parse_command_line(["status"])
        assert str(getattr(options["log_format"], "value", options["log_format"])) == fmt
    monkeypatch.setenv("ERPSYNC_LOG_FORMAT", "yaml")
    with pytest.raises(Exception, match="yaml"):
        parse_command_line(["status"])


def test_every_erpsync_command_in_the_production_section_exists() -> None:
    section = production_section()
    commands = set(cli().commands)
    takes_value = {"--config", "-c", "--log-format"}
    seen: set[str] = set()
    fenced = r"```[a-z]*\n(.*?)```"
    blocks = re.findall(fenced, section, flags=re.DOTALL)
    blocks += re.findall(r"`([^`]+)`", re.sub(fenced, "", section, flags=re.DOTALL))
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            code = line.split(" #", 1)[0].strip()
            if not code or code.startswith("#"):
                continue
            try:
                words = shlex.split(code, comments=True)
            except ValueError:
                continue
            for at, word in enumerate(words):
                # The program: first on the line, a path to it, or after the container's name
                # (`docker exec erpsync erpsync status`); not an argument (`systemctl reload
                # erpsync`, `journalctl -u erpsync -o cat`).
                program = at == 0 or "/" in word or words[at - 1] == "erpsync"
                if not program or Path(word).name != "erpsync" or word.startswith(("/etc",
                                                                                    "/var")):
                    continue
                rest = words[at + 1:]
                while rest and rest[0].startswith("-"):
                    rest = rest[2:] if rest[0] in takes_value else rest[1:]
                if rest and re.fullmatch(r"[a-z]+", rest[0]):
                    assert rest[0] in commands, f"README: `erpsync {rest[0]}` is no command"
                    seen.add(rest[0])
    assert {"serve", "status", "pause", "resume", "check", "run"} <= seen, seen


# --- the example secrets and config -------------------------------------------------------------


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip().removeprefix("#")
        if re.fullmatch(r"[A-Z][A-Z0-9_]*=\S*", line):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_the_env_example_holds_placeholders_only() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "chmod 600" in text or "-m 0600" in text
    values = env_example()
    assert "ERPSYNC_SERVICE_TOKEN" in values
    for key, value in values.items():
        assert value.startswith("replace-with-"), f"{key}: not a placeholder"
        assert not value.startswith(("'", '"')), f"{key}: docker --env-file keeps quotes"


def test_the_example_config_loads_with_the_example_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from erpsync.config import load_config
    from erpsync.plugins import discover

    raw = tomllib.loads(CONFIG_EXAMPLE.read_text(encoding="utf-8"))
    assert raw["state_dir"] == STATE_DIR
    referenced = set(re.findall(r'\{\s*env\s*=\s*"([A-Z0-9_]+)"\s*\}',
                                CONFIG_EXAMPLE.read_text(encoding="utf-8")))
    values = env_example()
    assert referenced <= set(values), f"not in {ENV_EXAMPLE.name}: {referenced - set(values)}"
    for name in referenced:
        monkeypatch.setenv(name, values[name])
    registry = discover()
    if not {"netvisor", "ongoing_wms"} <= set(registry.plugins):
        pytest.fail("the netvisor and ongoing_wms plugins are not installed (pip install them)")
    config = load_config(CONFIG_EXAMPLE, registry)
    assert config.state_dir == Path(STATE_DIR)
    assert config.service is not None
    _, stages = read_dockerfile(DOCKERFILE)
    assert config.service.port == int(stages[-1].env()["ERPSYNC_SERVICE_PORT"])
    assert config.service.token is not None


# --- the README section ----------------------------------------------------------------------


def production_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Running in production\n(.*?)(?=^## )", text,
                      flags=re.DOTALL | re.MULTILINE)
    assert match, 'README.md has no "## Running in production" section'
    following = text[match.end():].splitlines()[0]
    assert following == "## Writing a plugin", f"the section comes before {following!r}"
    return match.group(1)


def test_the_production_section_names_the_deployment_files() -> None:
    section = production_section()
    for name in ("deploy/erpsync.service", "deploy/Dockerfile", "deploy/erpsync.env.example",
                 "/etc/erpsync/erpsync.toml", STATE_DIR, "/healthz", "/readyz", "/metrics",
                 "journalctl -u erpsync", "ERPSYNC_LOG_FORMAT", "credentials_file",
                 "/run/credentials/erpsync.service/", "--stop-timeout"):
        assert name in section, f"README 'Running in production' does not mention {name}"
