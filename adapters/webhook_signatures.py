"""Webhook signature verification: Stripe's scheme and Standard Webhooks. Pure, no I/O.

Both schemes sign the raw request body with HMAC-SHA256 and a timestamp, so a captured request
cannot be replayed outside the tolerance window (both directions: a timestamp far in the future
is as suspect as an old one). Every comparison is constant time (:func:`hmac.compare_digest`).

Stripe (https://docs.stripe.com/webhooks#verify-manually)::

    Stripe-Signature: t=<unix seconds>,v1=<hex hmac>[,v1=<hex hmac>...]
    signed content:   "<t>.<raw body>"           key: the endpoint secret ("whsec_...") as UTF-8

Standard Webhooks (https://www.standardwebhooks.com/, "Verifying webhooks")::

    webhook-id: <message id>    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 hmac>[ v1,<base64 hmac>...]
    signed content:   "<id>.<timestamp>.<raw body>"  key: base64-decoded secret after "whsec_"

During a secret rotation both the old and new secrets are configured: any one of them may match.
Errors never say which secret matched or was expected.

Exceptions::

    SignatureError
    ├── SignatureMissing            no or unparseable signature headers
    ├── SignatureInvalid            no configured secret produced any of the given signatures
    └── TimestampOutsideTolerance   a valid signature over a timestamp too old or too new
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE_SECONDS = 300
STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class SignatureError(Exception):
    """A webhook's signature could not be accepted (answered 401)."""


class SignatureMissing(SignatureError):
    """The signature headers are absent or malformed."""


class SignatureInvalid(SignatureError):
    """No configured secret produced any of the request's signatures."""


class TimestampOutsideTolerance(SignatureError):
    """The signed timestamp is outside the tolerance window (replay protection)."""


@dataclass(frozen=True)
class Verified:
    """What a valid signature vouches for."""

    timestamp: int
    message_id: str | None = None  # Standard Webhooks' ``webhook-id``; Stripe has none


def split_secrets(value: str | None) -> list[str]:
    """Secrets as configured: comma- or whitespace-separated, several during a rotation."""
    if not value:
        return []
    return [item for item in value.replace(",", " ").split() if item]


def _check_tolerance(timestamp: int, tolerance: int, now: float | None) -> None:
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise TimestampOutsideTolerance("signature timestamp outside the tolerance window")


def _any_match(expected: Sequence[bytes], given: Sequence[bytes]) -> bool:
    # Compare every pair without short-circuiting, so timing says nothing about which matched.
    matched = False
    for mac in expected:
        for candidate in given:
            matched |= hmac.compare_digest(mac, candidate)
    return matched


# --- Stripe --------------------------------------------------------------------------------


def parse_stripe_header(header: str | None) -> tuple[int, list[str]]:
    """``t=…,v1=…,v1=…`` → (timestamp, v1 signatures). Other schemes (v0) are ignored."""
    if not header:
        raise SignatureMissing("Stripe-Signature header missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureMissing("Stripe-Signature timestamp malformed") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureMissing("Stripe-Signature header has no timestamp or no v1 signature")
    return timestamp, signatures


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex v1 signature Stripe sends for ``body`` at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_stripe(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Verified:
    """Verify a ``Stripe-Signature`` header over the raw body against any of ``secrets``."""
    timestamp, given = parse_stripe_header(header)
    if not secrets:
        raise SignatureInvalid("no secret configured")
    # Hex is case-insensitive; compare as lower-case ASCII bytes.
    given_bytes = [sig.strip().lower().encode("ascii", "replace") for sig in given]
    expected = [stripe_signature(body, s, timestamp).encode() for s in secrets]
    if not _any_match(expected, given_bytes):
        raise SignatureInvalid("signature does not match")
    # Checked after the MAC, as Stripe does: an unauthenticated timestamp proves nothing.
    _check_tolerance(timestamp, tolerance, now)
    return Verified(timestamp=timestamp)


# --- Standard Webhooks ---------------------------------------------------------------------


def standard_secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    raw = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        # The reference libraries accept unpadded base64; b64decode ignores surplus padding.
        key = base64.b64decode(raw + "==")
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret must be whsec_<base64>") from None
    if not key:
        raise ValueError("a Standard Webhooks secret must not be empty")
    return key


def standard_signature(body: bytes, key: bytes, message_id: str, timestamp: int) -> bytes:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def verify_standard(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Verified:
    """Verify Standard Webhooks headers (``webhook-id``, ``-timestamp``, ``-signature``).

    ``headers`` must be looked up case-insensitively (Starlette's ``Headers`` is)."""
    message_id = headers.get("webhook-id")
    raw_timestamp = headers.get("webhook-timestamp")
    raw_signatures = headers.get("webhook-signature")
    if not (message_id and raw_timestamp and raw_signatures):
        raise SignatureMissing("webhook-id, webhook-timestamp or webhook-signature missing")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureMissing("webhook-timestamp malformed") from None
    given: list[bytes] = []
    for versioned in raw_signatures.split():
        version, sep, value = versioned.partition(",")
        if not sep or version != "v1":
            continue  # other versions (v1a: asymmetric) are not configured here
        try:
            given.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not given:
        raise SignatureMissing("webhook-signature has no v1 signature")
    if not secrets:
        raise SignatureInvalid("no secret configured")
    expected = [
        standard_signature(body, standard_secret_key(s), message_id, timestamp) for s in secrets
    ]
    if not _any_match(expected, given):
        raise SignatureInvalid("signature does not match")
    _check_tolerance(timestamp, tolerance, now)
    return Verified(timestamp=timestamp, message_id=message_id)
