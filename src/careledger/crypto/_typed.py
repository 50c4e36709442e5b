"""EIP-712 structs declared once: a frozen dataclass whose fields carry their EIP-712 types.

Each of our signed requests (a consent, a revocation, a care team restriction, an exchange
fetch, an accounting, a study request) used to write by hand its type list, its message, its
JSON, and parsers with the range checks of its numbers copied in. A `Struct` declares its
fields with the types below (`Address`, `Uint64`, `Nonce`, …) and the rest follows from them:
the type list a wallet is shown (the field names in camelCase, in order), the message, the
JSON, the typed data, and the parsing of JSON or a wallet's typed data into checked values.
Whatever comes from a stranger is checked here, at the edge: a number that is not an int of
its width, an address that is none, a key missing or unknown is a `ValidationError` saying
which, never an exception from deep in eth-abi at the signature check (a 500).

```
@dataclass(frozen=True, slots=True)
class FetchRequest(Struct):
    PRIMARY_TYPE: ClassVar[str] = "Fetch"
    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger Exchange", "1")
    NOUN: ClassVar[str] = "a fetch request"
    requester: Address
    categories: Uint16
    nonce: Nonce
```
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from careledger.crypto._canonical import canonical_json
from careledger.crypto._eip712 import typed_data
from careledger.crypto._keccak import keccak
from careledger.crypto._signatures import checksum_address, parse_signature, recover_typed_data_signer
from careledger.errors import ValidationError

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"[0-9]{1,78}")  # 2**256 has 78 digits: longer is out of range, and costly to read
_HEX = re.compile(r"0x[0-9a-fA-F]{1,64}")
_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")


class _Kind:
    """How values of one EIP-712 type are checked, signed and written, whichever way they arrive.

    `checked` is the value as a struct holds it, or `ValueError` saying what it should be; what
    comes as JSON or in a wallet's typed data is read into that first (`from_json`, `from_message`).
    """

    __slots__ = ("eip712",)

    def __init__(self, eip712: str) -> None:
        self.eip712 = eip712

    def checked(self, value: Any) -> Any:
        raise NotImplementedError

    def message(self, value: Any) -> Any:
        """The value in the typed data a wallet signs."""
        return value

    def json(self, value: Any) -> Any:
        """The value as it travels in JSON."""
        return value

    def from_json(self, value: Any) -> Any:
        return self.checked(value)

    def from_message(self, value: Any) -> Any:
        return self.checked(value)


class _Uint(_Kind):
    """uintN: an int (never a bool, a float or a string) in [0, 2**N); in a wallet's typed data also its decimal
    digits, as pages write integers past 2**53 that JavaScript's numbers do not hold. `hex_in_json`: written in
    JSON as 0x and hex digits (a random nonce, which no JSON number holds)."""

    __slots__ = ("bits", "hex_in_json")

    def __init__(self, bits: int, *, hex_in_json: bool = False) -> None:
        super().__init__(f"uint{bits}")
        self.bits = bits
        self.hex_in_json = hex_in_json

    def checked(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**self.bits:
            raise ValueError(f"is a {self.eip712} (an integer from 0 to 2**{self.bits} - 1), not {_shown(value)}")
        return int(value)  # a flag's or an enum's plain value

    def json(self, value: int) -> Any:
        return f"{value:#066x}" if self.hex_in_json else value

    def from_json(self, value: Any) -> int:
        if not self.hex_in_json:
            return self.checked(value)
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise ValueError(f"is a {self.eip712} written as 0x and up to 64 hex digits, not {_shown(value)}")
        return self.checked(int(value, 16))

    def from_message(self, value: Any) -> int:
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            value = int(value)
        return self.checked(value)


class _Bool(_Kind):
    """bool: True or False, nothing else (not 0 or 1, not "true"): a switch a patient signs is the one she saw."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("bool")

    def checked(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"is a bool (true or false), not {_shown(value)}")


class _Address(_Kind):
    """address: 0x and 40 hex digits, in one case or with a right EIP-55 checksum; held checksummed."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("address")

    def checked(self, value: Any) -> str:
        if isinstance(value, str) and _ADDRESS.fullmatch(value):
            address = checksum_address(bytes.fromhex(value[2:]))
            digits = value[2:]
            if value == address or digits in (digits.lower(), digits.upper()):
                return address
            raise ValueError(f"is an address whose EIP-55 checksum is wrong: {value}")
        raise ValueError(f"is an address (0x and 40 hex digits), not {_shown(value)}")


class _Bytes32(_Kind):
    """bytes32: 32 bytes, written in JSON and typed data as 0x and 64 hex digits (an id that is a hash)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("bytes32")

    def checked(self, value: Any) -> bytes:
        if isinstance(value, bytes) and len(value) == 32:
            return value
        raise ValueError(f"is a bytes32 (32 bytes), not {_shown(value)}")

    def message(self, value: bytes) -> str:
        return "0x" + value.hex()

    def json(self, value: bytes) -> str:
        return self.message(value)

    def from_json(self, value: Any) -> bytes:
        if isinstance(value, str) and _BYTES32.fullmatch(value):
            return bytes.fromhex(value[2:])
        raise ValueError(f"is a bytes32 written as 0x and 64 hex digits, not {_shown(value)}")

    def from_message(self, value: Any) -> bytes:
        return self.from_json(value)


class _String(_Kind):
    """string: text of at most `max_length` characters (a reason, an id), signed as it is."""

    __slots__ = ("max_length",)

    def __init__(self, max_length: int = 1024) -> None:
        super().__init__("string")
        self.max_length = max_length

    def checked(self, value: Any) -> str:
        if isinstance(value, str) and len(value) <= self.max_length:
            return value
        if isinstance(value, str):
            raise ValueError(f"is a string of at most {self.max_length} characters, not {len(value)}")
        raise ValueError(f"is a string, not {_shown(value)}")


class _HashedJson(_Kind):
    """bytes32, the keccak256 of a JSON object's canonical form (RFC 8785): the struct and its JSON hold the object,
    the wallet signs its hash. The hash cannot be read back, so typed data never yields the object."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("bytes32")

    def checked(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"is a JSON object, not {_shown(value)}")
        return value

    def message(self, value: dict[str, Any]) -> str:
        return "0x" + keccak(canonical_json(value)).hex()

    def from_message(self, value: Any) -> Any:  # noqa: ARG002 (any value: none is the object)
        raise ValueError("is signed by its hash: typed data does not hold it")


@dataclass(frozen=True, slots=True)
class JsonKey:
    """A field's key in JSON where it is not its EIP-712 name: `Annotated[Uint256, JsonKey("study")]`."""

    key: str


Address = Annotated[str, _Address()]
Bool = Annotated[bool, _Bool()]
Uint8 = Annotated[int, _Uint(8)]
Uint16 = Annotated[int, _Uint(16)]
Uint32 = Annotated[int, _Uint(32)]
Uint64 = Annotated[int, _Uint(64)]
Uint256 = Annotated[int, _Uint(256)]
Nonce = Annotated[int, _Uint(256, hex_in_json=True)]
HashedJson = Annotated[dict[str, Any], _HashedJson()]
Bytes32 = Annotated[bytes, _Bytes32()]
String = Annotated[str, _String()]

_CHAIN_ID = _Uint(256)
_CONTRACT = _Address()


@dataclass(frozen=True, slots=True)
class _Field:
    attribute: str
    name: str  # in the EIP-712 type: the attribute in camelCase
    key: str  # in JSON
    kind: _Kind


class Struct:
    """Base of a frozen dataclass (`slots=True`) that is one EIP-712 struct: each field annotated with its type
    above, in the order the type lists them. A field with none is the struct's own (a signature that travels
    with it): not signed, not in its JSON, and it needs a default.

    However made, a struct holds checked values (`ValidationError` otherwise), its addresses checksummed.
    """

    __slots__ = ()
    PRIMARY_TYPE: ClassVar[str]
    DOMAIN: ClassVar[tuple[str, str]]  # name and version, as the verifier's constructor gave them
    NOUN: ClassVar[str]  # what it is, in words: "a fetch request"

    def __post_init__(self) -> None:
        for field in _fields(type(self)):
            try:
                object.__setattr__(self, field.attribute, field.kind.checked(getattr(self, field.attribute)))
            except ValueError as exc:
                raise ValidationError(f"{self.NOUN}'s {field.name} {exc}") from None

    @classmethod
    def eip712_type(cls) -> list[dict[str, str]]:
        """The struct's EIP-712 type: each field's name and type, in order."""
        return [{"name": field.name, "type": field.kind.eip712} for field in _fields(cls)]

    def message(self) -> dict[str, Any]:
        """The values a wallet signs, by EIP-712 name."""
        return {field.name: field.kind.message(getattr(self, field.attribute)) for field in _fields(type(self))}

    def typed_data(self, chain_id: int, contract: str) -> dict[str, Any]:
        """The typed data (`eth_signTypedData_v4`) for the verifier `contract` on chain `chain_id`."""
        return typed_data(
            domain=self.DOMAIN,
            chain_id=chain_id,
            contract=contract,
            primary_type=self.PRIMARY_TYPE,
            fields=self.eip712_type(),
            message=self.message(),
        )

    def to_json(self) -> dict[str, Any]:
        """The struct as JSON."""
        return {field.key: field.kind.json(getattr(self, field.attribute)) for field in _fields(type(self))}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The struct from its JSON; `ValidationError` for a key missing or unknown, or a value malformed."""
        return cls._read(data, in_json=True)

    @classmethod
    def from_message(cls, message: Any) -> Self:
        """The struct from the message of its typed data; `ValidationError` as for `from_json`."""
        return cls._read(message, in_json=False)

    @classmethod
    def from_typed_data(cls, typed: Any) -> Self:
        """The struct in typed data that came back from a wallet, checked field for field against its type.

        The domain is not read here (see `domain_of`): a signature recovered under the verifier's own domain
        refuses one signed for another.
        """
        if not isinstance(typed, dict) or typed.get("primaryType") != cls.PRIMARY_TYPE:
            raise ValidationError(
                f"not {cls.NOUN}: EIP-712 typed data (types, domain, primaryType, message) of {cls.PRIMARY_TYPE}"
            )
        types = typed.get("types")
        if not isinstance(types, dict) or types.get(cls.PRIMARY_TYPE) != cls.eip712_type():
            raise ValidationError(f"the {cls.PRIMARY_TYPE} type is not {cls.DOMAIN[0]}'s (fields or order differ)")
        return cls.from_message(typed.get("message"))

    @classmethod
    def domain_of(cls, typed: Any) -> tuple[int, str]:
        """The chain id and verifying contract of typed data for this struct's domain; `ValidationError` for
        another domain (name, version) or a malformed one."""
        name, version = cls.DOMAIN
        domain = typed.get("domain") if isinstance(typed, dict) else None
        if not isinstance(domain, dict) or (domain.get("name"), domain.get("version")) != cls.DOMAIN:
            raise ValidationError(f"not {cls.NOUN} for {name} version {version}")
        try:
            return _CHAIN_ID.from_message(domain.get("chainId")), _CONTRACT.checked(domain.get("verifyingContract"))
        except ValueError as exc:
            raise ValidationError(f"the domain of {cls.NOUN}: chainId or verifyingContract {exc}") from None

    @classmethod
    def _read(cls, data: Any, *, in_json: bool) -> Self:
        fields = _fields(cls)
        keys = [field.key if in_json else field.name for field in fields]
        what = f"{cls.NOUN} is an object of {', '.join(keys)}"
        if not isinstance(data, dict):
            raise ValidationError(f"{what}, not {_shown(data)}")
        unknown = [key for key in data if key not in keys]
        if unknown:
            raise ValidationError(f"{what}: {_shown(unknown[0])} is none of them")
        values = {}
        for field, key in zip(fields, keys, strict=True):
            if key not in data:
                raise ValidationError(f"{what}: {key} is missing")
            try:
                read = field.kind.from_json if in_json else field.kind.from_message
                values[field.attribute] = read(data[key])
            except ValueError as exc:
                raise ValidationError(f"{what}: {key} {exc}") from None
        return cls(**values)


S = TypeVar("S", bound=Struct)


@dataclass(frozen=True, slots=True)
class Signed(Generic[S]):
    """A struct and the 65-byte signature of its typed data, as they travel: `{"request": …, "signature": "0x…"}`.

    A subclass names the struct it carries (`REQUEST`), for `from_json`.
    """

    REQUEST: ClassVar[type[Struct]]
    request: S
    signature: bytes

    def signer(self, chain_id: int, contract: str) -> str:
        """Who signed it (`InvalidSignature` if no key did)."""
        return recover_typed_data_signer(self.request.typed_data(chain_id, contract), self.signature)

    def to_json(self) -> dict[str, Any]:
        """The request and its signature as JSON."""
        return {"request": self.request.to_json(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """A signed request from its JSON; `ValidationError` if malformed, `InvalidSignature` for a signature that
        is not 65 bytes of hex."""
        if not isinstance(data, dict) or data.keys() != {"request", "signature"}:
            raise ValidationError(f"a signed request is an object of request ({cls.REQUEST.NOUN}) and signature")
        request: Any = cls.REQUEST.from_json(data["request"])
        return cls(request, parse_signature(data["signature"]))


_FIELDS: dict[type[Struct], tuple[_Field, ...]] = {}


def _fields(cls: type[Struct]) -> tuple[_Field, ...]:
    """The struct's EIP-712 fields, from its annotations (read once per class: two threads reading them at once
    read the same)."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls, include_extras=True)
    found = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        extras = getattr(hints[field.name], "__metadata__", ())
        kind = next((extra for extra in extras if isinstance(extra, _Kind)), None)
        if kind is not None:
            head, *rest = field.name.split("_")
            name = head + "".join(word.capitalize() for word in rest)
            key = next((extra.key for extra in extras if isinstance(extra, JsonKey)), name)
            found.append(_Field(field.name, name, key, kind))
    _FIELDS[cls] = tuple(found)
    return _FIELDS[cls]


def _shown(value: Any) -> str:
    """A stranger's value in a message: short, and never the thousands of digits of a huge integer."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
