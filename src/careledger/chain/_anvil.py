"""The anvil child process a node runs as its own local chain.

The node starts anvil on a free loopback port with `--state` in the home, so the chain
survives restarts, and stops it with SIGTERM so anvil writes its state before exiting.
While `chain up` (or `serve`) keeps one running, it records the address in the home so
every other command on that home connects to it instead of starting a second anvil on
the same state file.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from careledger.errors import ChainUnavailable, ConfigError
from careledger.files import write_atomically

_NPM_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64",
}


def find_anvil(explicit: Path | None = None) -> Path:
    """The anvil binary: the configured path, the project's npm install, else `PATH`.

    The npm package `@foundry-rs/anvil` ships the native binary in a per-platform
    package; calling it directly (not the node wrapper script) means SIGTERM reaches
    anvil itself.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"anvil binary {explicit} does not exist (setting anvil_bin)")
        return explicit
    suffix = _NPM_PLATFORMS.get((platform.system(), platform.machine()))
    if suffix is not None:
        relative = Path("node_modules", "@foundry-rs", f"anvil-{suffix}", "bin", "anvil")
        for base in _search_roots():
            candidate = base / relative
            if candidate.is_file():
                return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ConfigError(
        "anvil not found: run `make setup` (installs @foundry-rs/anvil from npm), "
        "set CARELEDGER_ANVIL_BIN, or use --chain memory"
    )


def _search_roots() -> list[Path]:
    """The current directory, the package's source tree and the venv, and their parents."""
    starts = [Path.cwd(), Path(__file__).resolve(), Path(sys.prefix).resolve()]
    roots: list[Path] = []
    for start in starts:
        for parent in [start, *start.parents]:
            if parent not in roots:
                roots.append(parent)
    return roots


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A running managed chain, as recorded in the home by the process that keeps it."""

    url: str
    pid: int
    chain_id: int

    def is_live(self) -> bool:
        """True if the keeper's process exists and the endpoint answers with its chain id."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, owned by someone else
        import requests  # ~0.1 s to import; only a running chain needs it

        try:
            reply = requests.post(
                self.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                timeout=2,
            ).json()
            return int(reply["result"], 16) == self.chain_id
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return False


class ChainDir:
    """The files of the managed chain inside a home: state, log, lock and endpoint record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state_file = path / "anvil-state.json"
        self.log_file = path / "anvil.log"
        self.endpoint_file = path / "endpoint.json"
        self.lock_file = path / "anvil.lock"

    def read_endpoint(self) -> Endpoint | None:
        """The endpoint a running `chain up` left in this directory, if any."""
        try:
            data = json.loads(self.endpoint_file.read_text())
            return Endpoint(url=str(data["url"]), pid=int(data["pid"]), chain_id=int(data["chain_id"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def live_endpoint(self) -> Endpoint | None:
        """The recorded endpoint if its keeper still runs; a stale record is removed."""
        endpoint = self.read_endpoint()
        if endpoint is None:
            return None
        if endpoint.is_live():
            return endpoint
        self.endpoint_file.unlink(missing_ok=True)
        return None

    def record_endpoint(self, endpoint: Endpoint) -> None:
        """Leave the running chain's endpoint here for other commands on the home."""
        write_atomically(self.endpoint_file, json.dumps(asdict(endpoint)).encode())

    def clear_endpoint(self, pid: int) -> None:
        """Remove the record if it is still the one `pid` wrote."""
        endpoint = self.read_endpoint()
        if endpoint is not None and endpoint.pid == pid:
            self.endpoint_file.unlink(missing_ok=True)

    def lock(self, timeout: float) -> IO[bytes]:
        """Take the exclusive right to run anvil on this state file.

        Two anvils on one state file would each overwrite the other's dump, so a second
        command waits here (bounded) until the first is done with it.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_file, "wb")  # noqa: SIM115 - held until the chain closes
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    raise ChainUnavailable(
                        f"another careledger command (or `serve`) is using the chain in {self.path}; try again "
                        "when it ends, or keep the chain running for all of them: `careledger chain up --detach` first"
                    ) from None
                time.sleep(0.1)


class AnvilProcess:
    """One anvil child process, started on a free port of `host` (loopback unless told otherwise).

    Another address is for tests that put nodes in network namespaces of their own: they
    reach the chain on the address of the link that joins them to this host.
    """

    def __init__(
        self,
        binary: Path,
        chain_dir: ChainDir,
        *,
        chain_id: int,
        state_interval: int,
        host: str = "127.0.0.1",
    ) -> None:
        self.binary = binary
        self.chain_dir = chain_dir
        self.chain_id = chain_id
        self.state_interval = state_interval
        self.host = host
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The anvil process's id."""
        return self._proc.pid if self._proc else 0

    def start(self, timeout: float = 30.0) -> str:
        """Start anvil and return its URL once it answers; raise if it dies or hangs."""
        self.chain_dir.path.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://{self.host}:{port}"
        args = [
            str(self.binary),
            "--host", self.host,
            "--port", str(port),
            "--chain-id", str(self.chain_id),
            "--state", str(self.chain_dir.state_file),
            "--state-interval", str(self.state_interval),
            "--accounts", "1",
        ]  # fmt: skip
        self._proc = self._spawn(args)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ChainUnavailable(f"anvil failed to start: {self.describe_exit()}")
            if Endpoint(self.url, self.pid, self.chain_id).is_live():
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer within {timeout:.0f} s; see {self.chain_dir.log_file}")

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        """Start anvil from a thread of its own that waits for it, so lives exactly as long as it does.

        Linux sends the parent-death signal (`_die_with_parent`) when the *thread* that started
        the child ends, not the process: started again from a server's worker thread, which the
        server retires once idle, anvil would be stopped along with it.
        """
        started: queue.Queue[subprocess.Popen[bytes] | Exception] = queue.Queue(maxsize=1)

        def start_and_wait() -> None:
            try:
                with open(self.chain_dir.log_file, "ab") as log:
                    process = subprocess.Popen(
                        args,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop anvil
                        preexec_fn=_die_with_parent,
                    )
            except Exception as exc:  # handed to the caller, who raises it
                started.put(exc)
                return
            started.put(process)
            process.wait()

        _libc()  # loaded here, not in the forked child, where another thread may hold the loader's lock
        threading.Thread(target=start_and_wait, name="careledger-anvil", daemon=True).start()
        result = started.get()
        if isinstance(result, Exception):
            raise ChainUnavailable(f"cannot start anvil ({self.binary}): {result}") from result
        return result

    def alive(self) -> bool:
        """Whether the anvil process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def died(self, *, within: float = 1.0) -> bool:
        """Whether anvil has exited, or does within `within` seconds: asked when it stops answering (a second's wait
        on a path that is failing anyway). A killed anvil refuses connections before its exit is known here (the
        thread that waits for it holds `Popen`'s lock, so `alive` says yes until that thread has the status), and a
        slow machine widens the gap."""
        if self._proc is None:
            return False
        try:
            self._proc.wait(within)
        except subprocess.TimeoutExpired:
            return False
        return True

    def wait(self) -> int:
        """Block until anvil exits; its exit code."""
        assert self._proc is not None
        return self._proc.wait()

    def describe_exit(self) -> str:
        """One line on how the process ended, with the last line of its log."""
        code = self._proc.poll() if self._proc else None
        if code is None:
            how = "is still running"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        last = _last_line(self.chain_dir.log_file)
        return f"anvil (pid {self.pid}) {how}" + (f"; last log line: {last}" if last else "")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, so anvil dumps its state; SIGKILL if it does not exit in time."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM anvil if this node process dies, even by SIGKILL.

    Without it, a killed node would leave an orphan anvil dumping stale state over the
    state file the next node loads.
    """
    libc = _libc()
    if libc is not None:
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@functools.cache
def _libc() -> Any:
    """The C library, for `prctl` (Linux only; None elsewhere)."""
    if sys.platform != "linux":
        return None
    import ctypes

    return ctypes.CDLL("libc.so.6", use_errno=True)


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 2048))
            lines = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""
