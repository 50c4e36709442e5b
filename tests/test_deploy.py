"""deploy/: the systemd unit runs a `careledger serve` this CareLedger accepts, sandboxed as
docs/deployment.md says, and the nginx example sends the forwarded headers the node believes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import click
import httpx
import pytest
import typer

from careledger.cli._app import build_app
from careledger.cli._context import PASSPHRASE_CREDENTIAL
from careledger.cli._errors import EXIT_CODES
from careledger.config import Settings
from careledger.errors import (
    AccessDenied,
    AddressInUse,
    ChainUnavailable,
    ConfigError,
    SchemaBehind,
    ValidationError,
    WorkersNeedPostgres,
)
from tests.api.test_forwarded import served_behind

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "careledger.service"
NGINX = DEPLOY / "nginx.conf"
BACKUP_UNIT = DEPLOY / "careledger-backup.service"
BACKUP_TIMER = DEPLOY / "careledger-backup.timer"

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(text: str) -> Unit:
    """A systemd unit as `{section: [(key, value), …]}`, repeated keys kept in order (systemd's own
    reading: `#`/`;` comments, a trailing backslash continues the line)."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        assert current is not None, f"a setting outside any section: {stripped}"
        key, sep, value = stripped.partition("=")
        assert sep, f"not `Key=value`: {stripped}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    """Every value `key` has in `section`, in order (an empty assignment resets, as in systemd)."""
    found: list[str] = []
    for name, value in unit.get(section, []):
        if name == key:
            found = [] if value == "" else [*found, value]
    return found


def value(unit: Unit, section: str, key: str) -> str:
    """The one value of `key` in `section`."""
    (only,) = [v for k, v in unit.get(section, []) if k == key]
    return only


def parsed(argv: list[str]) -> tuple[list[str], Mapping[str, object]]:
    """The command `argv` (program name excluded) runs, as its names, and the parameters it would run
    with, parsed by the real command tree without running it: an unknown command or option, a bad
    value or a missing argument raises click's error."""
    command = typer.main.get_command(build_app(argv))
    context = command.make_context("careledger", list(argv))
    names: list[str] = []
    while isinstance(command, click.Group):
        # click keeps the command's name apart from its arguments until it invokes it
        name, found, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        assert name is not None
        assert found is not None
        names.append(name)
        command, context = found, found.make_context(name, rest, parent=context)
    return names, context.params


def serve_params(argv: list[str]) -> Mapping[str, object]:
    """The parameters `careledger serve` would run with for `argv`; another command raises."""
    names, params = parsed(argv)
    assert names == ["serve"], f"the unit runs `careledger {' '.join(names)}`, not `careledger serve`"
    return params


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text())


@pytest.fixture(scope="module")
def exec_start(unit: Unit) -> list[str]:
    return shlex.split(value(unit, "Service", "ExecStart"))


def test_the_unit_runs_careledger_serve_with_flags_that_exist(exec_start: list[str]) -> None:
    program, *argv = exec_start
    assert Path(program).is_absolute()
    assert Path(program).name == "careledger"
    params = serve_params(argv)
    assert params["host"] == "127.0.0.1", "behind the proxy, serve listens on loopback only"
    assert params["domain"], "the public name SIWE messages and the portal's forms must name"
    assert isinstance(params["workers"], int)
    assert params["workers"] >= 1


@pytest.mark.parametrize(
    "argv",
    [["serve", "--no-such-flag"], ["serve", "--port", "99999"], ["init"], ["serve", "--host"], ["chain", "stat"]],
    ids=["unknown flag", "bad value", "another command", "missing value", "no such command"],
)
def test_the_check_refuses_what_serve_would_refuse(argv: list[str]) -> None:
    with pytest.raises((click.UsageError, click.BadParameter, AssertionError)):
        serve_params(argv)


def test_the_unit_is_sandboxed_and_stops_gracefully(unit: Unit) -> None:
    service = dict(unit["Service"])
    assert service["User"] not in ("", "root")
    home = Path(dict(v.split("=", 1) for v in values(unit, "Service", "Environment"))["CARELEDGER_HOME"])
    # the home inside the state directory: restore stages beside it, as the service user
    assert home.parent == Path("/var/lib") / service["StateDirectory"]
    assert service["StateDirectoryMode"] == "0700"
    assert str(home.parent) in " ".join(values(unit, "Service", "ReadWritePaths")).split()
    assert service["WorkingDirectory"] == str(home.parent)
    assert service["EnvironmentFile"].startswith("/etc/")  # settings with passwords: outside the home and the unit
    for setting, wanted in {
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "NoNewPrivileges": "true",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
        "KillMode": "mixed",
        "UMask": "0077",
    }.items():
        assert service[setting] == wanted, setting
    assert int(service["TimeoutStopSec"]) >= 60, "time to anchor what is pending before SIGKILL"
    # Not restarted after what a restart cannot mend; restarted after what may come back by itself.
    final = {EXIT_CODES[error] for error in (ValidationError, AccessDenied, SchemaBehind, WorkersNeedPostgres)}
    assert {int(code) for code in service["RestartPreventExitStatus"].split()} == final
    assert not final & {EXIT_CODES[error] for error in (ConfigError, ChainUnavailable, AddressInUse)}
    assert "postgresql.service" in " ".join(values(unit, "Unit", "After")).split()


def test_the_unit_hands_the_passphrase_as_a_credential_the_cli_reads(unit: Unit) -> None:
    (credential,) = values(unit, "Service", "LoadCredential")
    name, _, source = credential.partition(":")
    assert name == PASSPHRASE_CREDENTIAL  # what `given_passphrase` reads from $CREDENTIALS_DIRECTORY
    assert source.startswith("/etc/")
    assert source != value(unit, "Service", "EnvironmentFile")
    # never in the environment, where /proc/PID/environ keeps it for the life of the process
    assert not [v for v in values(unit, "Service", "Environment") if "PASSPHRASE" in v]
    assert "CARELEDGER_PASSPHRASE=" not in UNIT.read_text()


def _units_runnable_here(tmp_path: Path) -> list[Path]:
    """The units (and the timer) with their ExecStart pointing at this checkout's careledger, so systemd
    can check them; side by side, as the timer names its service."""
    here = str(Path(sys.prefix) / "bin" / "careledger")
    copies = []
    for unit_file in (UNIT, BACKUP_UNIT, BACKUP_TIMER):
        copy = tmp_path / unit_file.name
        copy.write_text(unit_file.read_text().replace("/opt/careledger/.venv/bin/careledger", here))
        copies.append(copy)
    return copies


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    paths = _units_runnable_here(tmp_path)
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)], capture_output=True, text=True, timeout=60
    )
    # Lines about other units (multi-user.target's dependencies on this machine) are not these files'.
    ours = [line for line in verify.stderr.splitlines() if any(path.name in line for path in paths)]
    assert not ours, verify.stderr
    for service in paths[:2]:
        security = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(service)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
        assert exposure, security.stdout + security.stderr
        assert float(exposure.group(1)) <= 2.5, security.stdout  # systemd calls ≤ 3.9 "OK", ≤ 1.9 "SAFE"


def test_the_backup_unit_backs_up_the_same_home_in_the_same_sandbox(unit: Unit) -> None:
    backup = parse_unit(BACKUP_UNIT.read_text())
    program, *argv = shlex.split(value(backup, "Service", "ExecStart"))
    assert program == shlex.split(value(unit, "Service", "ExecStart"))[0]
    names, params = parsed(argv)
    assert names == ["backup"]
    writable = " ".join(values(backup, "Service", "ReadWritePaths")).split()
    assert str(params["dest"]).rstrip("/") in writable
    assert values(backup, "Service", "Environment") == values(unit, "Service", "Environment")
    # the node's settings, and a passphrase of its own that the serving node never holds
    assert values(backup, "Service", "EnvironmentFile")[0] == value(unit, "Service", "EnvironmentFile")
    assert len(values(backup, "Service", "EnvironmentFile")) == 2
    # Every sandboxing setting of the service, and the same value, but for where it may write.
    sandbox = {key for key, _ in unit["Service"] if key.startswith(SANDBOX_PREFIXES)} - {"ReadWritePaths"}
    assert sandbox
    for key in sandbox:
        assert values(backup, "Service", key) == values(unit, "Service", key), key
    assert set(values(unit, "Service", "ReadWritePaths")) <= set(writable)
    timer = parse_unit(BACKUP_TIMER.read_text())
    assert value(timer, "Timer", "Persistent") == "true"  # a night missed while off runs at boot


# What the two services' sandboxes are made of.
SANDBOX_PREFIXES = (
    "Protect",
    "Private",
    "NoNewPrivileges",
    "Restrict",
    "LockPersonality",
    "RemoveIPC",
    "Capability",
    "AmbientCapabilities",
    "SystemCall",
    "UMask",
)


def nginx_directives(text: str, name: str) -> list[list[str]]:
    """The arguments of every `name …;` directive in an nginx config (comments dropped)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [shlex.split(found) for found in re.findall(rf"(?m)^\s*{name}\s+([^;{{}}]*);", code)]


def test_the_proxy_forwards_to_where_the_unit_listens(exec_start: list[str]) -> None:
    params = serve_params(exec_start[1:])
    (upstream,) = (args for args in nginx_directives(NGINX.read_text(), "server") if args)
    assert upstream[0] == f"{params['host']}:{params['port']}"
    assert re.search(rf'forwarded_allow_ips = \["{re.escape(str(params["host"]))}"\]', NGINX.read_text())


def as_nginx_sends(client_address: str) -> dict[str, str]:
    """The headers deploy/nginx.conf sets on a request from `client_address` to https://careledger.example.org."""
    variables = {
        "$remote_addr": client_address,
        "$scheme": "https",
        "$host": "careledger.example.org",
        "$request_id": "7d9c2b1e4f6a48b3a5c0e2d4f6a8b0c1",  # nginx's: 32 hex digits
        "$http_upgrade": "",  # a plain request, not a WebSocket's handshake
        "$connection_upgrade": "",
    }
    headers = {}
    for name, raw in nginx_directives(NGINX.read_text(), "proxy_set_header"):
        headers[name] = re.sub(r"\$\w+", lambda m: variables[m.group(0)], raw)
    return {name: sent for name, sent in headers.items() if sent}  # nginx sends no header set to ""


def test_the_node_believes_what_the_proxy_forwards(tmp_path: Path) -> None:
    with served_behind(tmp_path / "home", proxies=["127.0.0.1"]) as url, httpx.Client(base_url=url) as client:
        advertised = client.get("/.well-known/smart-configuration", headers=as_nginx_sends("203.0.113.1"))
        metrics = client.get("/metrics", headers=as_nginx_sends("203.0.113.1"))
        nonces = [
            client.get("/auth/nonce", headers=as_nginx_sends(ip)).status_code
            for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.2")
        ]
    assert advertised.json()["token_endpoint"].startswith("https://careledger.example.org/")
    assert advertised.headers["X-Request-ID"] == as_nginx_sends("203.0.113.1")["X-Request-ID"]  # kept, not replaced
    assert metrics.status_code == 403  # a forwarded request never reaches the metrics, even from loopback
    # Each client address has a limit of its own (one at once), so the address was believed.
    assert nonces == [200, 200, 429]


# Where nginx keeps request bodies and proxied responses that do not fit in memory: here, not /var/lib/nginx.
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="no nginx here")
def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    self_signed = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost"
    subprocess.run(
        ["openssl", *self_signed.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    site = NGINX.read_text()
    site = re.sub(r"ssl_certificate \S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};", site)
    site = re.sub(r"access_log \S+", f"access_log {tmp_path / 'access.log'}", site)
    (tmp_path / "careledger.conf").write_text(site)
    temp_paths = "".join(f"    {kind}_temp_path {tmp_path / kind};\n" for kind in TEMP_PATHS)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n{temp_paths}    access_log {tmp_path / 'http.log'};\n"
        f"    include {tmp_path / 'careledger.conf'};\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"


def guide_blocks(language: str) -> list[str]:
    """The guide's fenced blocks of `language` ("" for plain ones), in order."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", GUIDE.read_text(), re.MULTILINE | re.DOTALL)
    return [body for lang, body in fenced if lang == language]


def guide_commands() -> list[list[str]]:
    """Every `cl …` (careledger as the service user) the guide's shell blocks run, as its arguments."""
    commands = []
    for block in guide_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if not re.match(r"([A-Z_]+=\S+\s+)*cl\s", line):
                continue
            lexer = shlex.shlex(re.sub(r"\s#.*", "", line), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = list(lexer)
            words = words[words.index("cl") + 1 :]
            shell = next((i for i, w in enumerate(words) if w in ("|", ">", "&&", "||", ";")), len(words))
            commands.append(words[:shell])
    return commands


def test_the_guide_runs_only_commands_and_flags_that_exist() -> None:
    commands = guide_commands()
    assert len(commands) >= 8
    for argv in commands:
        parsed(argv)


def test_the_guide_sets_only_settings_that_exist() -> None:
    settings = [tomllib.loads(block) for block in guide_blocks("") if re.match(r"[a-z_]+ = ", block)]
    assert {name for found in settings for name in found} >= {"db", "chain", "forwarded_allow_ips"}
    for found in settings:
        Settings(**found)  # an unknown name or a bad value is refused (extra="forbid")
