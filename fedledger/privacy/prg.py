"""The one pseudo-random generator of private rounds: HKDF-SHA256 keys, ChaCha20 keystreams as uint32 vectors.

Masks hide updates only if nobody can predict them, so they come from a cryptographic generator keyed by agreed
secrets (STYLE habit 17; Flower issue #7522 shows what a 32-bit seed does). Bonawitz et al. 2017 ("Practical
Secure Aggregation for Privacy-Preserving Machine Learning", CCS, eprint 2017/281) expand each agreed secret with
a PRG; this module fixes that PRG so that an auditor in any language re-derives the same words:

* key  = HKDF-SHA256(ikm=secret, salt=none (RFC 5869: 32 zero bytes), length=32, info=INFO) with
  INFO = b"fedledger/secagg/v1" 0x00 | len16(label) label | task_id (32 bytes, big-endian) |
  round_id (32 bytes, big-endian) | len16(context) context, where len16 is a 2-byte big-endian length;
* words = the ChaCha20 keystream (RFC 8439 block function) under that key with an all-zero 16-byte nonce and
  counter (every key is used for one stream only), read as little-endian uint32, word i from bytes 4i..4i+3.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedledger.privacy.errors import PrivacyParameterError

U32 = npt.NDArray[np.uint32]
KEY_BYTES = 32
DOMAIN = b"fedledger/secagg/v1"
MAX_WORDS = 1 << 32  # 16 GiB of keystream per key, far below ChaCha20's 2^32 blocks of 64 bytes
CHUNK_WORDS = 1 << 20  # keystream is made and consumed 4 MiB at a time
_ZEROS = bytes(4 * CHUNK_WORDS)
_NONCE = bytes(16)
_WORD = np.dtype("<u4")


def _length_prefixed(data: bytes) -> bytes:
    if len(data) >= 1 << 16:
        raise PrivacyParameterError(f"PRG label or context of {len(data)} bytes is too long (limit 65535)")
    return len(data).to_bytes(2, "big") + data


def derive_key(secret: bytes, label: str, task_id: int, round_id: int, context: bytes = b"") -> bytes:
    """The 32-byte ChaCha20 key for one stream: HKDF-SHA256 over ``secret``, bound to its use and its round.

    Parameters: ``secret`` an agreed secret (an X25519 shared secret or a self-mask seed); ``label`` what the
    stream is for ("pairwise", "self"); ``task_id``/``round_id`` the on-chain round (uint256 each); ``context``
    anything else the stream must be bound to (the pair's addresses). Returns the key.
    """
    for name, value in (("task id", task_id), ("round id", round_id)):
        if not 0 <= value < 1 << 256:
            raise PrivacyParameterError(f"{name} {value} is not a uint256")
    info = (
        DOMAIN
        + b"\x00"
        + _length_prefixed(label.encode("utf-8"))
        + task_id.to_bytes(32, "big")
        + round_id.to_bytes(32, "big")
        + _length_prefixed(context)
    )
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def _stream(key: bytes, count: int) -> CipherContext:
    """An encryptor positioned at the start of the key's keystream, after checking the request."""
    if len(key) != KEY_BYTES:
        raise PrivacyParameterError(f"PRG key must be {KEY_BYTES} bytes, got {len(key)}")
    if not 0 <= count <= MAX_WORDS:
        raise PrivacyParameterError(f"cannot draw {count} words from one PRG key (limit {MAX_WORDS})")
    return Cipher(algorithms.ChaCha20(key, _NONCE), mode=None).encryptor()


def keystream_words(key: bytes, count: int) -> U32:
    """The first ``count`` uint32 words of the key's ChaCha20 keystream (little-endian words)."""
    encryptor = _stream(key, count)
    out = np.empty(count, dtype=_WORD)
    view = out.data.cast("B")
    zeros = memoryview(_ZEROS)
    for start in range(0, 4 * count, len(_ZEROS)):
        stop = min(start + len(_ZEROS), 4 * count)
        encryptor.update_into(zeros[: stop - start], view[start:stop])
    return out.astype(np.uint32, copy=False)


def add_keystream(acc: U32, key: bytes, sign: int) -> None:
    """``acc += sign * keystream(key)`` modulo 2^32, in place, one 4 MiB chunk at a time (no full-size copy).

    ``sign`` is +1 or -1; uint32 arithmetic in numpy wraps, which is exactly the reduction modulo 2^32.
    """
    if sign not in (1, -1):
        raise PrivacyParameterError(f"keystream sign must be +1 or -1, got {sign}")
    if acc.dtype != np.uint32 or acc.ndim != 1:
        raise PrivacyParameterError("the accumulator must be a flat uint32 vector")
    encryptor = _stream(key, len(acc))
    scratch = np.empty(CHUNK_WORDS, dtype=_WORD)
    view = scratch.data.cast("B")
    zeros = memoryview(_ZEROS)
    op = np.add if sign == 1 else np.subtract
    for start in range(0, len(acc), CHUNK_WORDS):
        stop = min(start + CHUNK_WORDS, len(acc))
        n = stop - start
        encryptor.update_into(zeros[: 4 * n], view[: 4 * n])
        op(acc[start:stop], scratch[:n], out=acc[start:stop], casting="unsafe")
