"""Content ids and canonical JSON."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID, multihash

from careledger.crypto import canonical_json, check_content_id, content_id, is_content_id, parse_content_id
from careledger.errors import IntegrityError, ValidationError


def test_cid_is_v1_raw_sha256_base32() -> None:
    # The well-known CIDv1 raw sha2-256 of b"hello".
    assert content_id(b"hello") == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
    cid = parse_content_id(content_id(b"x"))
    assert (cid.version, cid.codec.name, cid.hashfun.name) == (1, "raw", "sha2-256")


@given(st.binary(max_size=4096))
def test_cid_matches_multiformats(data: bytes) -> None:
    assert content_id(data) == str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def test_is_content_id_is_exact() -> None:
    assert is_content_id(content_id(b"x"))
    assert not is_content_id(content_id(b"x") + "a")
    assert not is_content_id("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")  # dag-pb


def test_changed_content_fails_its_check() -> None:
    cid = content_id(b"ciphertext")
    check_content_id(cid, b"ciphertext")
    with pytest.raises(IntegrityError, match="does not match its id"):
        check_content_id(cid, b"ciphertexT")


def test_foreign_content_ids_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a content id"):
        parse_content_id("hello")
    cidv0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    with pytest.raises(ValidationError, match="not CIDv1 raw sha2-256"):
        parse_content_id(cidv0)


def test_canonical_json_follows_rfc8785() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "é", None, True]}) == '{"a":[1,"é",null,true],"b":1}'.encode()
    assert canonical_json({"n": 1e21}) == b'{"n":1e+21}'
    assert canonical_json({"b": 2, "a": 1}) == canonical_json({"a": 1, "b": 2})


_flat_values = st.none() | st.booleans() | st.text() | st.integers(min_value=1 - 2**53, max_value=2**53 - 1)


@given(st.dictionaries(st.text(), _flat_values, max_size=8))
def test_fast_flat_path_is_byte_for_byte_rfc8785(value: dict[str, bool | str | int | None]) -> None:
    # Keys outside ASCII (and floats) take the rfc8785 package's path; the
    # rest take json.dumps: both must give the standard's bytes.
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_refuses_what_json_cannot_say() -> None:
    with pytest.raises(ValidationError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValidationError):
        canonical_json({"x": b"bytes"})
