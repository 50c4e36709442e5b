"""The backup's streaming AEAD: what it seals opens with the passphrase only, and a segment changed, moved,
dropped, cut at a boundary or followed by more is refused."""

from __future__ import annotations

import io

import pytest

from careledger.backup._cipher import (
    _HEADER,
    _MAC,
    _TAG,
    MAGIC,
    SEGMENT,
    OpeningReader,
    SealingWriter,
    WrongPassphrase,
)
from careledger.errors import IntegrityError

_START = _HEADER.size + _MAC
_SEALED = SEGMENT + _TAG
_PLAIN = bytes(range(256)) * (SEGMENT * 5 // 2 // 256)  # two and a half segments


@pytest.fixture(scope="module")
def sealed() -> bytes:
    sink = io.BytesIO()
    writer = SealingWriter(sink, "correct horse")
    for start in range(0, len(_PLAIN), 10_000):
        writer.write(_PLAIN[start : start + 10_000])
    writer.close()
    assert writer.written == len(sink.getvalue())
    return sink.getvalue()


def _open(data: bytes, passphrase: str = "correct horse") -> bytes:
    reader = OpeningReader(io.BytesIO(data), passphrase)
    out = reader.read(10_240) + reader.read()
    reader.finish()
    return out


def test_it_opens_what_it_sealed_and_nothing_is_in_the_clear(sealed: bytes) -> None:
    assert len(sealed) == _START + 3 * _TAG + len(_PLAIN)
    assert _open(sealed) == _PLAIN
    assert _PLAIN[:64] not in sealed


def test_an_empty_stream_has_one_last_segment() -> None:
    sink = io.BytesIO()
    SealingWriter(sink, "p").close()
    assert _open(sink.getvalue(), "p") == b""


def test_a_wrong_passphrase_is_told_apart(sealed: bytes) -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        _open(sealed, "battery staple")


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("flipped", lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:], "segment 3 .* changed"),
        (
            "swapped",
            lambda d: (
                d[:_START]
                + d[_START + _SEALED : _START + 2 * _SEALED]
                + d[_START : _START + _SEALED]
                + d[_START + 2 * _SEALED :]
            ),
            "segment 1 .* changed",
        ),
        ("cut at a boundary", lambda d: d[: _START + 2 * _SEALED], "segment 2 .* cut short"),
        ("a segment dropped", lambda d: d[:_START] + d[_START + _SEALED :], "segment 1"),
        ("lengthened", lambda d: d + b"\0" * 32, "segment 3"),
        ("header", lambda d: d[:30] + bytes([d[30] ^ 1]) + d[31:], "wrong passphrase .*header"),
    ],
)
def test_a_changed_stream_is_refused(sealed: bytes, name: str, damage: object, message: str) -> None:
    assert callable(damage), name
    with pytest.raises((IntegrityError, WrongPassphrase), match=message):  # a changed header reads as a wrong key
        _open(damage(sealed))


@pytest.mark.parametrize(("log2_n", "r", "p"), [(22, 32, 1), (18, 8, 1), (17, 8, 16), (10, 1, 1)])
def test_a_header_naming_other_key_derivation_is_refused_before_scrypt_runs(
    sealed: bytes, monkeypatch: pytest.MonkeyPatch, log2_n: int, r: int, p: int
) -> None:
    """The parameters are read before the MAC can be checked: a changed header may not make scrypt take 16 GiB."""
    derived: list[tuple[int, int, int]] = []

    def recorded(*, salt: bytes, length: int, n: int, r: int, p: int) -> object:
        derived.append((n, r, p))
        raise AssertionError("scrypt ran with a changed header's parameters")

    _magic, salt, _n, _r, _p, prefix = _HEADER.unpack(sealed[: _HEADER.size])
    changed = _HEADER.pack(MAGIC, salt, log2_n, r, p, prefix) + sealed[_HEADER.size :]
    monkeypatch.setattr("careledger.backup._cipher.Scrypt", recorded)
    with pytest.raises(IntegrityError, match="not a CareLedger backup, or a damaged one"):
        _open(changed)
    assert derived == []
