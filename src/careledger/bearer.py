"""The token of an `Authorization: Bearer <token>` header (RFC 6750), its scheme read in any case as RFC 7235 says:
one reading for the API's sign-in, the CDS clients' JWTs and the metrics token, so that a proxy or scraper that
writes `bearer` is served alike everywhere."""

from __future__ import annotations


def bearer_token(authorization: str | None) -> str | None:
    """The token, or None when the header is missing, of another scheme, or names no token."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
