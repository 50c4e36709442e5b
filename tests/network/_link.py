"""A switch with a slow wire: joins the namespaces' TAP devices and holds each node's frames 40 ms.

```
node A's tap ─┐                      ┌─► B's tap, C's tap, the host's tap
node B's tap ─┼─► frame ─► held DELAY ─┤   (to the port that owns its destination MAC,
node C's tap ─┘                      │    or every other port for broadcast and unknowns)
host's tap  ───► frame ───────────────┘   at once: only what a node sends waits
```

This is what `tc qdisc add dev IF root netem delay 40ms` on each node's interface does, in
user space, for kernels built without netem (CONFIG_NET_SCH_NETEM, as on the Firecracker
machines CI runs on): a request from A to B and its answer each wait once, 80 ms in all.
TAP devices carry whole frames, checksummed and segmented by the sending kernel (no offloads
are negotiated), so a frame read from one can be written to another as it is.

Run as `python -m tests.network._link DELAY_MS HOST_TAP NODE_TAP...`: it creates the TAP
devices, prints `ready`, and forwards until its standard input closes (the test ending, or
being killed). Its devices vanish with it, wherever they were moved to.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import itertools
import os
import select
import struct
import sys
import time
from dataclasses import dataclass, field

_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_MAX_FRAME = 65_536


def open_tap(name: str) -> int:
    """A new TAP device called `name`, as a non-blocking descriptor that reads and writes its frames."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TAP | _IFF_NO_PI))
    return fd


@dataclass
class Switch:
    """Learns which port each MAC address sits behind, and delays frames from the node ports."""

    ports: list[int]
    delays: list[float]
    _where: dict[bytes, int] = field(default_factory=dict)
    _held: list[tuple[float, int, int, bytes]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def receive(self, port: int, frame: bytes, now: float) -> None:
        """Take one frame read from `port`; hold it for that port's delay, then send it on."""
        destination, source = frame[:6], frame[6:12]
        self._where[source] = port
        known = self._where.get(destination)
        targets = [known] if known is not None else [p for p in range(len(self.ports)) if p != port]
        for target in targets:
            if target != port:
                heapq.heappush(self._held, (now + self.delays[port], next(self._order), target, frame))

    def send_due(self, now: float) -> float | None:
        """Send every frame whose time has come; seconds until the next one (None: nothing held)."""
        while self._held and self._held[0][0] <= now:
            _due, _order, target, frame = heapq.heappop(self._held)
            with contextlib.suppress(OSError):  # the device is down or gone: the frame is lost, as on a wire
                os.write(self.ports[target], frame)
        return self._held[0][0] - now if self._held else None


def run(delay: float, host: str, nodes: list[str]) -> None:
    """Create the devices, say `ready`, and forward frames until standard input closes."""
    ports = [open_tap(host), *(open_tap(name) for name in nodes)]
    switch = Switch(ports, [0.0] + [delay] * len(nodes))
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    live = dict(enumerate(ports))
    while True:
        wait = switch.send_due(time.monotonic())
        readable, _, _ = select.select([stdin, *live.values()], [], [], wait)
        if stdin in readable and not os.read(stdin, 1024):
            return
        now = time.monotonic()
        for port, fd in list(live.items()):
            if fd in readable and not _drain(switch, port, fd, now):
                del live[port]


def _drain(switch: Switch, port: int, fd: int, now: float) -> bool:
    """Hand every frame waiting on `fd` to the switch; False once its device is gone (namespace removed)."""
    while True:
        try:
            frame = os.read(fd, _MAX_FRAME)
        except BlockingIOError:
            return True
        except OSError:
            return False
        switch.receive(port, frame, now)


if __name__ == "__main__":
    run(int(sys.argv[1]) / 1000, sys.argv[2], sys.argv[3:])
