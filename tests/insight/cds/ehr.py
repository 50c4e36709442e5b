"""A stock CDS client (an EHR) for the tests: its own keys, made with `cryptography`, its JWTs signed with pyjwt
as the CDS Hooks 2.0 security section says, and its JWKS served from a real local HTTP server for `jku`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class Ehr:
    """An EHR that signs with one key (`alg`: ES384 or RS384), known by `kid`."""

    iss: str = field(default_factory=lambda: f"https://ehr-{uuid.uuid4().hex[:8]}.example.org")
    alg: str = "ES384"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    key: Any = None

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = (
                ec.generate_private_key(ec.SECP384R1())
                if self.alg.startswith("ES")
                else rsa.generate_private_key(public_exponent=65537, key_size=2048)
            )

    @property
    def jwks(self) -> dict[str, Any]:
        """Its public keys, as a JWKS."""
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = json.loads(algorithm.to_jwk(self.key.public_key()))
        return {"keys": [jwk | {"kid": self.kid, "alg": self.alg, "use": "sig"}]}

    def token(self, audience: str, /, *, jku: str | None = None, **claims: Any) -> str:
        """A JWT for one request to `audience`; `claims` override the standard ones (None removes one)."""
        now = int(time.time())
        body = {"iss": self.iss, "aud": audience, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex} | claims
        headers = {"kid": self.kid, "typ": "JWT"} | ({} if jku is None else {"jku": jku})
        payload = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(payload, self.key, algorithm=self.alg, headers=headers)


@contextmanager
def serving_jwks(jwks: dict[str, Any]) -> Iterator[str]:
    """`jwks` served at a local URL (a real HTTP server) for as long as the block runs; the URL."""
    body = json.dumps(jwks).encode()

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
