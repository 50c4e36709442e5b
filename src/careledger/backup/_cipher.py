"""A backup's encryption: a passphrase-keyed streaming AEAD, so a snapshot larger than memory is sealed and
opened as it is written and read.

```
passphrase ─scrypt(salt, N=2^17, r=8, p=1)─► master ─HKDF-SHA256─► data key, header key
header = magic ‖ salt ‖ log2 N ‖ r ‖ p ‖ nonce prefix (7 B) ‖ HMAC-SHA256(header key, what precedes)
plaintext ─1 MiB segments─► AES-256-GCM(data key, nonce = prefix ‖ segment number (4 B) ‖ last? (1 B), aad = header)
```

The segment nonces are the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015), as age and Tink's
streaming AEAD use it: a segment moved, dropped or changed fails its tag, and a stream cut short at a segment
boundary fails too, since only the true last segment was sealed as last. The header's MAC tells a wrong
passphrase from damaged data. Only pyca/cryptography's primitives are used; nothing here is a cipher of ours.
"""

from __future__ import annotations

import hmac
import os
import struct
from hashlib import sha256
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from careledger.errors import AccessDenied, IntegrityError

MAGIC = b"CareLedger backup v1\n"
SEGMENT = 1 << 20
_TAG = 16
_LOG2_N, _R, _P = 17, 8, 1
_HEADER = struct.Struct(f"{len(MAGIC)}s16sBBB7s")
_MAC = 32


class WrongPassphrase(AccessDenied):
    """The passphrase does not open this backup."""


def _keys(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    if not passphrase:
        raise AccessDenied("a backup's passphrase may not be empty")
    if (log2_n, r, p) != (_LOG2_N, _R, _P):
        # Read before the header's MAC can be checked: a header naming N = 2^22, r = 32 would have scrypt take
        # 16 GiB. Only what the writer uses is accepted (128 MiB).
        raise IntegrityError("not a CareLedger backup, or a damaged one: its header names an unknown key derivation")
    master = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode())

    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    return derive(b"careledger backup v1 data"), derive(b"careledger backup v1 header")


class SealingWriter:
    """A write-only stream that seals what is written to it into `sink`; `close()` seals the last segment."""

    def __init__(self, sink: BinaryIO, passphrase: str) -> None:
        salt, prefix = os.urandom(16), os.urandom(7)
        data_key, header_key = _keys(passphrase, salt, _LOG2_N, _R, _P)
        header = _HEADER.pack(MAGIC, salt, _LOG2_N, _R, _P, prefix)
        self._header = header + hmac.new(header_key, header, sha256).digest()
        self._aead = AESGCM(data_key)
        self._prefix = prefix
        self._sink = sink
        self._buffer = bytearray()
        self._counter = 0
        self.written = len(self._header)
        sink.write(self._header)

    def write(self, data: bytes) -> int:
        """Take `data`; each full segment is sealed and written at once."""
        self._buffer += data
        while len(self._buffer) > SEGMENT:  # strictly more: the last segment is sealed only by `close`
            self._seal(bytes(self._buffer[:SEGMENT]), last=False)
            del self._buffer[:SEGMENT]
        return len(data)

    def close(self) -> None:
        """Seal what is left as the last segment (possibly empty)."""
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _seal(self, segment: bytes, *, last: bool) -> None:
        nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
        sealed = self._aead.encrypt(nonce, segment, self._header)
        self._sink.write(sealed)
        self.written += len(sealed)
        self._counter += 1


class OpeningReader:
    """A read-only stream of what `SealingWriter` sealed; `IntegrityError` the moment a segment does not open,
    and at the end if the stream stopped before its last segment."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        header = source.read(_HEADER.size + _MAC)
        if len(header) < _HEADER.size + _MAC or not header.startswith(MAGIC):
            raise IntegrityError("not a CareLedger backup (no backup header)")
        _magic, salt, log2_n, r, p, prefix = _HEADER.unpack(header[: _HEADER.size])
        data_key, header_key = _keys(passphrase, salt, log2_n, r, p)
        if not hmac.compare_digest(hmac.new(header_key, header[: _HEADER.size], sha256).digest(), header[-_MAC:]):
            raise WrongPassphrase("wrong passphrase for this backup (or its header was changed)")
        self._header = header
        self._aead = AESGCM(data_key)
        self._prefix = prefix
        self._source = source
        self._pending = source.read(SEGMENT + _TAG)
        self._counter = 0
        self._plain = b""
        self._at = 0  # how much of `_plain` was read: tarfile reads 10 KiB at a time from 1 MiB segments
        self._done = False

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of plaintext (all that is left if negative)."""
        while not self._done and (size < 0 or len(self._plain) - self._at < size):
            self._plain = self._plain[self._at :] + self._open_next()
            self._at = 0
        end = len(self._plain) if size < 0 else min(self._at + size, len(self._plain))
        out = self._plain[self._at : end]
        self._at = end
        return out

    def finish(self) -> None:
        """Read to the end (past what a reader of the plaintext stopped at), so a stream cut short or
        lengthened is refused even after the part that was needed."""
        while not self._done:
            self._open_next()
        if self._source.read(1):
            raise IntegrityError("the backup goes on after its last segment: it was changed")

    def _open_next(self) -> bytes:
        sealed = self._pending
        self._pending = self._source.read(SEGMENT + _TAG)
        last = not self._pending
        nonce = self._prefix + struct.pack(">IB", self._counter, 1 if last else 0)
        try:
            plain = self._aead.decrypt(nonce, sealed, self._header)
        except InvalidTag:
            where = f"segment {self._counter + 1} (from byte {len(self._header) + self._counter * (SEGMENT + _TAG)})"
            why = "it was changed, or the backup is cut short" if last else "it was changed"
            raise IntegrityError(f"the backup does not authenticate at {where}: {why}") from None
        self._counter += 1
        self._done = last
        return plain
