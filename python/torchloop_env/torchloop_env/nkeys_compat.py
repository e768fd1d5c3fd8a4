"""NKey signing for nats-py when the ``nkeys`` package is not installed.

nats-py signs the server's nonce for NKey and ``.creds`` (JWT) authentication through the
``nkeys`` package, which is not on every wheel store. This module implements the part of its
API that nats-py calls (``from_seed``, and a key pair's ``public_key``, ``sign`` and ``wipe``)
over PyNaCl's Ed25519, from the NKeys encoding: the base32 text, without padding, of two
prefix bytes, the 32-byte Ed25519 seed and a CRC-16/XMODEM, little-endian, of what precedes
it. ``install()`` makes ``import nkeys`` find it when the real package is absent.
"""
from __future__ import annotations

import base64
import sys

PREFIX_SEED = 18 << 3  # 'S'
PREFIXES = {"operator": 14 << 3, "account": 0, "user": 20 << 3, "server": 13 << 3, "cluster": 2 << 3}


class ErrInvalidSeed(ValueError):
    pass


def crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _b32decode(text: bytes) -> bytes:
    text = bytes(text).strip()
    return base64.b32decode(text + b"=" * (-len(text) % 8))


def _encode(raw: bytes) -> bytes:
    raw = raw + crc16(raw).to_bytes(2, "little")
    return base64.b32encode(raw).rstrip(b"=")


def decode_seed(seed: bytes) -> tuple:
    """The key type's prefix byte and the 32-byte Ed25519 seed, checked."""
    try:
        raw = _b32decode(seed)
    except Exception:
        raise ErrInvalidSeed("an NKey seed is base32 text (it starts with 'S')") from None
    if len(raw) != 36 or crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
        raise ErrInvalidSeed("not an NKey seed: wrong length or checksum")
    if raw[0] & 0xF8 != PREFIX_SEED:
        raise ErrInvalidSeed("not an NKey seed (it must start with 'S')")
    prefix = ((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3)
    if prefix not in PREFIXES.values():
        raise ErrInvalidSeed("an NKey seed of an unknown key type")
    return prefix, raw[2:34]


class KeyPair:
    def __init__(self, seed: bytes):
        try:
            from nacl.signing import SigningKey
        except ImportError as e:
            raise ModuleNotFoundError("NKey signing without the nkeys package needs PyNaCl", name="nacl") from e
        prefix, raw = decode_seed(seed)
        self._prefix = prefix
        self._key = SigningKey(bytes(raw))
        self.public_key = _encode(bytes([prefix]) + bytes(self._key.verify_key))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(bytes(data)).signature

    def verify(self, data: bytes, sig: bytes) -> bool:
        from nacl.exceptions import BadSignatureError
        try:
            self._key.verify_key.verify(bytes(data), bytes(sig))
            return True
        except BadSignatureError:
            return False

    def wipe(self) -> None:
        self._key = None


def from_seed(seed: bytes) -> KeyPair:
    return KeyPair(seed)


def install() -> str:
    """Makes ``import nkeys`` work: the real package when it is installed, else this module.
    Returns which one."""
    try:
        import nkeys  # noqa: F401
        return "nkeys"
    except ImportError:
        pass
    import nacl.signing  # noqa: F401  (ModuleNotFoundError names 'nacl' when PyNaCl is missing)
    sys.modules["nkeys"] = sys.modules[__name__]
    return "torchloop_env.nkeys_compat"
