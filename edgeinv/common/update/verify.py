"""Verify a bundle or a channel index before anything of it runs: Ed25519, hashes, safe members.

Standard library only (``cryptography`` is used when importable, else a pure-Python Ed25519 check
after RFC 8032), so the verifier installed on a device can check a bundle whose wheels are not
installed yet. A bundle is one ``.tar.gz`` whose single top folder holds ``BUNDLE.json`` (app, version,
target, sha256 of every other member) and ``BUNDLE.sig`` (Ed25519 over ``BUNDLE.json``): the whole
artifact -- wheels, models, unit, installer -- is covered. Nothing is extracted before the signature and
every member's hash are checked; members must be plain files or folders with relative paths, and a
member that BUNDLE.json does not list is refused.

``python -m edgeinv.common.update.verify BUNDLE.tar.gz --key signing.pub.pem`` prints BUNDLE.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import tarfile
from pathlib import Path, PurePosixPath

from ..errors import InvalidInputError, ModelIntegrityError

SIG_NAME = "BUNDLE.sig"
INFO_NAME = "BUNDLE.json"
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")

# ---- Ed25519 (RFC 8032 section 5.1.7), verification only --------------------------------------------

_P = 2 ** 255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_Q = 2 ** 252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes):
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def _verify_pure(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _Q
    left, right = _mul(s, _G), _add(r, _mul(h, a))
    return (left[0] * right[2] - right[0] * left[2]) % _P == 0 and (left[1] * right[2] - right[1] * left[2]) % _P == 0


def public_key_bytes(pem: bytes) -> bytes:
    """The 32 raw bytes of an Ed25519 public key in PEM (SubjectPublicKeyInfo) form."""
    text = pem.decode("ascii", "replace")
    m = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", text, re.S)
    try:
        der = base64.b64decode("".join(m.group(1).split())) if m else b""
    except ValueError:
        der = b""
    if len(der) != 44 or not der.startswith(_ED25519_SPKI):
        raise InvalidInputError("the publisher key is not an Ed25519 public key in PEM form")
    return der[12:]


def ed25519_verify(public_pem: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by the key in ``public_pem``."""
    raw = public_key_bytes(public_pem)
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return _verify_pure(raw, message, signature)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def read_signature(data: bytes) -> bytes:
    try:
        sig = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        sig = b""
    return sig


# ---- bundles -----------------------------------------------------------------------------------------


def _member_name(m: tarfile.TarInfo, archive) -> str:
    p = PurePosixPath(m.name)
    if p.is_absolute() or ".." in p.parts or not (m.isfile() or m.isdir()):
        raise ModelIntegrityError(f"{archive}: unsafe member {m.name!r} (links, devices, absolute or '..' paths "
                                  "are refused)")
    return m.name


def _open(archive):
    try:
        return tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise InvalidInputError(f"{archive}: not an edgeinv bundle ({exc})") from None


def verify_bundle(archive: str | Path, public_pem: bytes | None, *, allow_unsigned: bool = False) -> dict:
    """Check signature, every member's sha256 and member safety; return BUNDLE.json (plus ``top``).

    Raises ModelIntegrityError (tampered, wrong key, unlisted or unsafe member), InvalidInputError (not a
    bundle, unsigned without ``allow_unsigned``).
    """
    tar = _open(archive)
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InvalidInputError(f"{archive}: truncated or corrupt bundle ({exc})") from None
        tops = {_member_name(m, archive).split("/", 1)[0] for m in members}
        if len(tops) != 1:
            raise ModelIntegrityError(f"{archive}: a bundle has exactly one top folder, found {sorted(tops)}")
        top = tops.pop()
        files = {m.name.split("/", 1)[1]: m for m in members if m.isfile() and "/" in m.name}
        if INFO_NAME not in files:
            raise InvalidInputError(f"{archive}: no {INFO_NAME} inside; not an edgeinv bundle")
        raw_info = tar.extractfile(files[INFO_NAME]).read()
        if SIG_NAME in files:
            sig = read_signature(tar.extractfile(files[SIG_NAME]).read())
            if public_pem is None:
                if not allow_unsigned:
                    raise InvalidInputError(f"{archive}: no publisher key on this device to check the signature "
                                            "(install signing.pub.pem, or pass --allow-unsigned)")
            elif not ed25519_verify(public_pem, raw_info, sig):
                raise ModelIntegrityError(f"{archive}: the bundle signature does not verify with this device's "
                                          "publisher key (tampered, or signed by another key)")
        elif not allow_unsigned:
            raise InvalidInputError(f"{archive}: the bundle is not signed; refused (pass --allow-unsigned to "
                                    "install it anyway)")
        try:
            info = json.loads(raw_info)
            listed = dict(info["files"])
        except (ValueError, KeyError, TypeError):
            raise ModelIntegrityError(f"{archive}: {INFO_NAME} is not valid") from None
        extra = sorted(set(files) - set(listed) - {INFO_NAME, SIG_NAME})
        if extra:
            raise ModelIntegrityError(f"{archive}: {extra[0]} is not listed in {INFO_NAME}; refused")
        for name, digest in listed.items():
            member = files.get(name)
            if member is None:
                raise ModelIntegrityError(f"{archive}: {name} is missing")
            h = hashlib.sha256()
            fh = tar.extractfile(member)
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            if h.hexdigest() != digest:
                raise ModelIntegrityError(f"{archive}: {name} is altered (sha256 differs from {INFO_NAME})")
    return {**info, "top": top, "signature_checked": SIG_NAME in files and public_pem is not None}


def extract_verified(archive: str | Path, info: dict, dest: str | Path) -> Path:
    """Extract the members a verified bundle lists into ``dest`` (created); returns ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    wanted = set(info["files"]) | {INFO_NAME, SIG_NAME}
    with _open(archive) as tar:
        for m in tar.getmembers():
            rel = _member_name(m, archive).split("/", 1)[1] if "/" in m.name else ""
            if not m.isfile() or rel not in wanted:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(target, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
    again = {str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in dest.rglob("*") if p.is_file() and p.name not in (INFO_NAME, SIG_NAME)}
    if again != info["files"]:  # the archive changed between verification and extraction
        raise ModelIntegrityError(f"{archive}: contents changed while extracting; refused")
    return dest


# ---- channel index -----------------------------------------------------------------------------------


def verify_index(raw: bytes, sig: bytes | None, public_pem: bytes | None, *, allow_unsigned: bool = False) -> dict:
    """The parsed channel index after its signature check."""
    if public_pem is None or sig is None:
        if not allow_unsigned:
            raise InvalidInputError("the channel index is not signed or there is no publisher key on this device; "
                                    "refused (pass --allow-unsigned to accept it)")
    elif not ed25519_verify(public_pem, raw, read_signature(sig)):
        raise ModelIntegrityError("the channel index signature does not verify with this device's publisher key")
    try:
        index = json.loads(raw)
        int(index["serial"])
        dict(index["releases"])
    except (ValueError, KeyError, TypeError):
        raise ModelIntegrityError("the channel index is not valid JSON with 'serial' and 'releases'") from None
    return index


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2.10"`` -> ``(1, 2, 10)``; InvalidInputError for anything but dot-separated integers."""
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*", version):
        raise InvalidInputError(f"release version {version!r}: use dot-separated integers such as 1.4.2")
    return tuple(int(p) for p in version.split("."))


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="edgeinv-verify", description="verify a signed edgeinv bundle")
    p.add_argument("bundle")
    p.add_argument("--key", help="publisher public key (PEM)")
    p.add_argument("--allow-unsigned", action="store_true")
    a = p.parse_args(argv)
    try:
        key = Path(a.key).read_bytes() if a.key else None
        info = verify_bundle(a.bundle, key, allow_unsigned=a.allow_unsigned)
    except (OSError, InvalidInputError, ModelIntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in info.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
