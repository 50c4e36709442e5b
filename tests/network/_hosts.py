"""Hosts of their own on one machine: a network namespace per node, joined to this one by a slow link.

```
root namespace: the test, anvil on 198.18.Y.1 ── host tap ─┐
namespace …-a: node A on 198.18.Y.11 ──────────── tap ─────┤ tests.network._link: a switch
namespace …-b: node B on 198.18.Y.12 ──────────── tap ─────┤ holding each node's frames 40 ms
namespace …-c: node C on 198.18.Y.13 ──────────── tap ─────┘
```

Names carry this process's id and a random tag, so parallel runs never clash, and a later
run removes what a killed one left (namespaces whose process is gone, with anything still
running in them). Addresses come from 198.18.0.0/15, the range RFC 2544 keeps for
benchmarking, in a /24 nobody on this machine uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PREFIX = "careledger-net"
_OURS = re.compile(rf"^{_PREFIX}-(\d+)-[0-9a-f]+-\w+$")
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Host:
    """One node's namespace: its name, its address on the link, and how to run a command there."""

    name: str
    namespace: str
    address: str

    def command(self, *args: str) -> list[str]:
        """`args` run inside this namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def run(self, args: Sequence[str], env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `args` here to the end, its output captured."""
        return subprocess.run(
            self.command(*args), env=env, cwd=_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )


class Hosts:
    """The namespaces, the link between them, and the address this namespace has on it."""

    def __init__(self, names: Sequence[str], delay_ms: int) -> None:
        tag = secrets.token_hex(3)
        subnet = _free_subnet()
        self.gateway = f"198.18.{subnet}.1"
        self.hosts = {
            name: Host(name, f"{_PREFIX}-{os.getpid()}-{tag}-{name}", f"198.18.{subnet}.{11 + i}")
            for i, name in enumerate(names)
        }
        taps = {name: f"cl{tag}{i}" for i, name in enumerate(names)}
        host_tap = f"cl{tag}h"
        self._link = subprocess.Popen(
            [sys.executable, "-m", "tests.network._link", str(delay_ms), host_tap, *taps.values()],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if self._link.stdout is None or self._link.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the link did not start (exit code {self._link.wait(5)})")
            _ip("addr", "add", f"{self.gateway}/24", "dev", host_tap)
            _ip("link", "set", host_tap, "up")
            for host in self.hosts.values():
                _join(host, taps[host.name])
        except BaseException:
            self.close()
            raise

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def close(self) -> None:
        """End what still runs in the namespaces, then remove them; the link's devices go with it."""
        for host in self.hosts.values():
            _end_processes(host.namespace)
        if self._link.stdin is not None:
            self._link.stdin.close()
        try:
            self._link.wait(10)
        except subprocess.TimeoutExpired:
            self._link.kill()
            self._link.wait()
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (the reason to skip), or None when they can."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "`ip netns add` needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "no `ip` command: install iproute2 (make setup does)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun: the kernel has no TUN/TAP devices to join the namespaces"
    probe = f"{_PREFIX}-{os.getpid()}-0-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


def remove_stale() -> None:
    """Remove the namespaces of earlier runs whose process is gone, and end what still runs in them."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for line in listed.splitlines():
        name = line.split(" ", 1)[0]
        found = _OURS.match(name)
        if found and not _alive(int(found.group(1))):
            _remove(name)


def _join(host: Host, tap: str) -> None:
    _ip("netns", "add", host.namespace)
    _ip("link", "set", tap, "netns", host.namespace)
    _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", tap)
    _ip("-n", host.namespace, "link", "set", tap, "up")
    _ip("-n", host.namespace, "link", "set", "lo", "up")


def _end_processes(namespace: str) -> None:
    """SIGKILL whatever still runs in `namespace`: only our own nodes and commands ever ran there."""
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False).stdout
    for pid in pids.split():
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(int(pid), signal.SIGKILL)


def _remove(namespace: str) -> None:
    _end_processes(namespace)
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _free_subnet() -> int:
    """A third octet no address of this machine uses under 198.18."""
    used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    taken = {int(m) for m in re.findall(r"inet 198\.18\.(\d+)\.", used)}
    free = [n for n in range(1, 255) if n not in taken]
    return free[secrets.randbelow(len(free))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
