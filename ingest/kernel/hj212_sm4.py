"""HJ 212-2025 SM4 encryption of a packet's CP area (SPEC section 12). Pure, no I/O.

The standard (section 6.4.2, Appendix A.2) encrypts the CP area of data commands
(CN 2000-2999), CN 1014 and CN 3020 with SM4-ECB and no padding, key per logger: every
whole 16-character block is encrypted, a shorter tail stays plain. The ciphertext is
written as text, `CP=&&{0xE4,0x3E,...,0x41}g=N&&`: upper-case `0x..` bytes, comma
separated, in braces, the plain tail after them. The CRC is computed over the *plaintext*
data segment and the length field gives the *plaintext* length, so an encrypted packet is
only checked once decrypted: `open_packet` turns it back into the plaintext packet the
standard's own Appendix A.2 example shows beside it, byte for byte.

Keys are secrets: nothing here logs or formats one; errors name the MN, never the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ingest.kernel import hj212
from ingest.kernel.errors import Hj212Error, UnknownSource

BLOCK_BYTES = 16
CP_OPEN = b"CP=&&"
CIPHER_OPEN = b"CP=&&{0x"
# `{` + n bytes written `0xHH` separated by commas + `}`
_CIPHER_TEXT = re.compile(rb"\{(0x[0-9A-Fa-f]{2}(?:,0x[0-9A-Fa-f]{2})*)\}")
# CN whose CP a logger with a key must encrypt (the data commands, 1014 and 3020)
ENCRYPTED_SINGLE_CNS = frozenset({"1014", "3020"})


class UndecryptableError(Hj212Error):
    """An encrypted packet the stack's key does not open (wrong or missing key)."""

    code = "undecryptable"


def cn_is_encrypted(cn: str) -> bool:
    """True for the commands whose CP a keyed 2025 logger encrypts."""
    return (len(cn) == 4 and cn.isdigit() and cn[0] == "2") or cn in ENCRYPTED_SINGLE_CNS


def is_encrypted(raw: bytes) -> bool:
    """True when the packet's CP is written as SM4 ciphertext (`CP=&&{0x..`)."""
    return CIPHER_OPEN in raw


def _ecb(key: bytes, data: bytes, encrypt: bool) -> bytes:
    # ECB is what HJ 212-2025 6.4.2 prescribes; the protocol is not ours to choose.
    cipher = Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305
    worker = cipher.encryptor() if encrypt else cipher.decryptor()
    return worker.update(data) + worker.finalize()


def encrypt_cp(cp: bytes, key: bytes) -> bytes:
    """The CP area's text as sent: whole blocks as `{0x..,..}`, the shorter tail plain."""
    whole = len(cp) // BLOCK_BYTES * BLOCK_BYTES
    if whole == 0:
        return cp  # nothing to encrypt: a CP shorter than one block goes plain
    sealed = _ecb(key, cp[:whole], encrypt=True)
    written = sealed.hex(",").upper().replace(",", ",0x")  # C-speed `E4,0x3E,...`
    return b"{0x" + written.encode("ascii") + b"}" + cp[whole:]


def decrypt_cp(text: bytes, key: bytes) -> bytes:
    """The plaintext of a CP area written `{0x..,..}tail`."""
    match = _CIPHER_TEXT.match(text)
    if match is None:
        raise Hj212Error("encrypted CP is not written {0xHH,0xHH,...}")
    sealed = bytes.fromhex(
        match[1].replace(b"0x", b"").replace(b"0X", b"").replace(b",", b"").decode()
    )
    if len(sealed) % BLOCK_BYTES:
        raise Hj212Error(f"encrypted CP holds {len(sealed)} bytes, not whole 16-byte SM4 blocks")
    return _ecb(key, sealed, encrypt=False) + text[match.end() :]


def _parts(raw: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(`##` + length, header up to `CP=&&`, CP area as sent, CRC) of a framed packet."""
    data = raw.rstrip(b"\r\n")
    if not data.startswith(hj212.HEADER) or len(data) < 10:
        raise Hj212Error("packet does not start with '##'")
    head, segment, crc = data[:6], data[6:-4], data[-4:]
    start = segment.find(CP_OPEN)
    if start < 0 or not segment.endswith(b"&&") or len(segment) < start + 7:
        raise Hj212Error("data segment has no 'CP=&&...&&' section")
    cp_start = start + len(CP_OPEN)
    return head, segment[:cp_start], segment[cp_start:-2], crc


def encrypt_packet(raw: bytes, key: bytes) -> bytes:
    """A plaintext packet with its CP encrypted: same length field and CRC (Appendix A.2)."""
    head, header, cp, crc = _parts(raw)
    return head + header + encrypt_cp(cp, key) + b"&&" + crc + hj212.TRAILER


def open_packet(raw: bytes, keys: Sequence[bytes], mn: str = "") -> tuple[bytes, int]:
    """The plaintext packet of an encrypted one, and which of `keys` opened it.

    A key opens a packet when the plaintext has the length the length field gives and
    the CRC the packet carries; with several keys (a rotation under way) the first
    that does wins. Raises `UndecryptableError` when none does or there is none.
    """
    head, header, cp, crc = _parts(raw)
    who = f"MN {mn!r}" if mn else "the stack"
    if not keys:
        raise UndecryptableError(
            f"packet of {who} is SM4-encrypted but the registry has no hj212_sm4_key for it"
        )
    for index, key in enumerate(keys):
        plain = decrypt_cp(cp, key)
        segment = header + plain + b"&&"
        if (
            head[2:].isdigit()
            and len(segment) == int(head[2:])
            and crc.upper() == b"%04X" % hj212.crc16(segment)
        ):
            return head + segment + crc, index
    raise UndecryptableError(
        f"packet of {who} does not decrypt with the stack's SM4 key (wrong key, or the "
        "logger's key was changed without the registry): no plaintext matches its "
        "length and CRC"
    )


def header_field(raw: bytes, name: str) -> str:
    """One header field of a framed packet (before `CP=&&`), read without decrypting."""
    cut = raw.find(CP_OPEN)
    head = raw[6 : cut if cut >= 0 else len(raw)]
    key = name.encode("ascii") + b"="
    for part in head.split(b";"):
        if part.startswith(key):
            return part[len(key) :].decode("ascii", "replace")
    return ""


def unseal(raw: bytes, keys_of: Callable[[str], Sequence[bytes] | None]) -> tuple[bytes, bool]:
    """(the plaintext packet, whether it came encrypted); `keys_of(MN)` gives the stack's keys.

    A plain packet is returned as it is. An encrypted one of an MN `keys_of` does not know
    raises `UnknownSource`; one no key opens raises `UndecryptableError`.
    """
    if not is_encrypted(raw):
        return raw, False
    mn = header_field(raw, "MN")
    keys = keys_of(mn)
    if keys is None:
        raise UnknownSource(f"MN {mn!r} is not a registered stack")
    plain, _index = open_packet(raw, keys, mn)
    return plain, True


def check_sealed(packet: hj212.Packet, keys: Sequence[bytes], encrypted: bool) -> None:
    """A stack with a key must encrypt its data commands, 1014 and 3020 (a CP of at least
    one block); a plain one from it is refused: anyone who knows the PW could forge it."""
    if keys and not encrypted and cn_is_encrypted(packet.cn) and len(packet.cp) >= BLOCK_BYTES:
        raise NotEncryptedError(
            f"CN {packet.cn} of MN {packet.mn!r} came in plain text, but the registry has an "
            "SM4 key for this stack: its logger must encrypt the CP (HJ 212-2025 6.4.2)"
        )


class NotEncryptedError(Hj212Error):
    """A keyed stack's data command sent in plain text."""

    code = "not_encrypted"


def reseal(raw: bytes, logger_keys: Sequence[bytes], upstream_key: bytes | None) -> bytes:
    """A logger's packet as an upstream platform gets it: with the upstream's own key.

    Decrypted with the logger's keys when it came encrypted, then encrypted with
    `upstream_key` (plaintext when None, for a platform without SM4); the length field and
    CRC stay the plaintext's. The result ends with CRLF, as `hj212.frame` does.
    """
    plain, _ = unseal(raw, lambda _mn: logger_keys)
    plain = plain.rstrip(hj212.TRAILER) + hj212.TRAILER
    return plain if upstream_key is None else encrypt_packet(plain, upstream_key)
