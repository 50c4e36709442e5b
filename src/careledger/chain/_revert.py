"""Turn the bytes a reverting call returns into the message a person can read."""

from __future__ import annotations

# Solidity/Vyper `Error(string)` and `Panic(uint256)` selectors.
_ERROR_SELECTOR = bytes.fromhex("08c379a0")
_PANIC_SELECTOR = bytes.fromhex("4e487b71")

_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop from empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


def decode_revert(data: bytes | str | None) -> str:
    """The revert reason in `data`, or a description of what the data is."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return str(data)  # some nodes put the message itself in `data`
    if not data:
        return "reverted without a reason"
    from eth_abi import decode  # loaded only to explain a revert
    from eth_abi.exceptions import DecodingError

    selector, payload = data[:4], data[4:]
    try:
        if selector == _ERROR_SELECTOR:
            (reason,) = decode(["string"], payload)
            return str(reason)
        if selector == _PANIC_SELECTOR:
            (code,) = decode(["uint256"], payload)
            return f"panic: {_PANIC_CODES.get(code, f'code {code:#x}')}"
    except DecodingError:
        pass
    return f"reverted with custom error data 0x{data.hex()}"


def reason_from_message(message: str) -> str:
    """Strip the node's `execution reverted:` prefix from an error message."""
    for prefix in ("execution reverted: ", "execution reverted"):
        if message.startswith(prefix):
            return message[len(prefix) :] or "reverted without a reason"
    return message
