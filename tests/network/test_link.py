"""The slow link's switch: what a node sends waits its delay, what the host sends goes at once."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.network._link import Switch

HOST, A, B = 0, 1, 2
BROADCAST = b"\xff" * 6
MAC = {HOST: b"\x02\x00\x00\x00\x00\x01", A: b"\x02\x00\x00\x00\x00\x0a", B: b"\x02\x00\x00\x00\x00\x0b"}


def frame(source: int, destination: bytes, payload: bytes = b"x") -> bytes:
    return destination + MAC[source] + b"\x08\x00" + payload


@pytest.fixture
def wires() -> Iterator[list[tuple[int, int]]]:
    """Three ports as pipes: the switch writes to each one's write end; the test reads the other."""
    pipes = [os.pipe() for _ in range(3)]
    for read_end, _ in pipes:
        os.set_blocking(read_end, False)
    yield pipes
    for read_end, write_end in pipes:
        os.close(read_end)
        os.close(write_end)


def arrived(wire: tuple[int, int]) -> bytes:
    try:
        return os.read(wire[0], 65_536)
    except BlockingIOError:
        return b""


def test_a_nodes_frame_waits_its_delay_and_a_hosts_goes_at_once(wires: list[tuple[int, int]]) -> None:
    switch = Switch([w for _, w in wires], [0.0, 0.04, 0.04])
    switch.receive(A, frame(A, BROADCAST), now=10.0)
    assert switch.send_due(10.0) == pytest.approx(0.04)
    assert arrived(wires[HOST]) == b""
    assert switch.send_due(10.039) == pytest.approx(0.001)
    assert arrived(wires[HOST]) == b""
    assert switch.send_due(10.04) is None
    assert arrived(wires[HOST]) == arrived(wires[B]) == frame(A, BROADCAST)
    assert arrived(wires[A]) == b""  # never back to where it came from

    switch.receive(HOST, frame(HOST, MAC[A]), now=11.0)
    assert switch.send_due(11.0) is None
    assert arrived(wires[A]) == frame(HOST, MAC[A])


def test_a_learned_address_gets_its_frames_alone_and_in_order(wires: list[tuple[int, int]]) -> None:
    switch = Switch([w for _, w in wires], [0.0, 0.04, 0.04])
    switch.receive(B, frame(B, BROADCAST), now=0.0)  # B is heard: its address is learned
    switch.send_due(1.0)
    for wire in wires:
        arrived(wire)
    switch.receive(A, frame(A, MAC[B], b"first"), now=2.0)
    switch.receive(A, frame(A, MAC[B], b"second"), now=2.0)
    switch.send_due(2.04)
    assert arrived(wires[B]) == frame(A, MAC[B], b"first") + frame(A, MAC[B], b"second")
    assert arrived(wires[HOST]) == b""
