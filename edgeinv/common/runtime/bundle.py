"""Released models on disk: read the manifest, verify every file's sha256, load the runner to use.

Edge side (no torch). Layout of ``models/<pkg>/`` (see docs/interfaces.md)::

    manifest.json                      app, preprocessing_version, git_commit, configs{...}
    <config>/<variant>.onnx            one file per shipped variant
    <config>/teacher.pt                teacher state_dict (training side / bench torch-eager row)

Every file the manifest lists carries its sha256; :func:`verify_release` recomputes them and
raises :class:`~edgeinv.common.errors.ModelIntegrityError` on the first mismatch, so a device
refuses a tampered or half-copied release before it serves anything. Because the manifest pins
every file's hash, signing the manifest signs the release: :func:`sign_release` writes an Ed25519
signature (``manifest.json.sig``) and :func:`verify_signature` checks it against the publisher's
public key. :func:`encrypt_file` / :func:`decrypt_file` keep a model encrypted at rest with a
device key (AES-256-GCM); :class:`~edgeinv.common.runtime.session.OnnxModel` decrypts ``*.enc``
files in memory. A bundle built ``--encrypt-for`` a device seals its model key with the device's X25519
public key (``model_key.json``, :func:`wrap_content_key`); on the device :func:`device_model_key` opens it
with the private key at ``$EDGEINV_DEVICE_KEY`` (default ``/etc/edgeinv/device.key``, mode 0600).
Signing and encryption use the ``cryptography`` package (imported on use).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ..errors import ConfigError, ModelError, ModelIntegrityError, NotFoundError
from .manifest import MANIFEST_NAME, _resolve, load_manifest, manifest_files, read_manifest, sha256_file, verify_release
from .session import load_model

__all__ = ["MANIFEST_NAME", "read_manifest", "verify_release", "load_runner", "sha256_file",
           "manifest_files", "variant_path", "generate_signing_key", "sign_release", "verify_signature",
           "encrypt_file", "decrypt_file", "generate_device_key", "wrap_content_key", "load_device_key",
           "device_model_key"]

SIGNATURE_NAME = "manifest.json.sig"
_ENC_MAGIC = b"EDGEINV-AESGCM1\n"
_HINT = "run `make models` (or `edgeinv <app> compress`) to build them"


_VERIFIED: dict[tuple, bool] = {}
_VLOCK = threading.Lock()


def _verify_file(path: Path, expected: str) -> None:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, expected)
    with _VLOCK:
        if key in _VERIFIED:
            return
    if sha256_file(path) != expected:
        raise ModelIntegrityError(f"{path.name}: sha256 does not match the manifest",
                                  hint="the file was modified or corrupted; reinstall the release")
    with _VLOCK:
        _VERIFIED[key] = True


def variant_path(app, settings, *, config: str | None = None, variant: str | None = None) -> tuple[Path, dict]:
    """Path of a released variant and its manifest record.

    Default variant: this device's choice (:func:`edgeinv.common.runtime.selftest.device_choice`: the
    self-test's pick on this CPU, else the manifest's ``chosen`` when it is meant for this CPU class).
    """
    folder = app.models_dir(settings)
    manifest = load_manifest(folder)
    config = app.check_config(config or app.configs[0])
    entry = manifest.config(config)
    want = app.preprocessing_version
    have = str(manifest.preprocessing_version or want)
    if have != str(want):
        raise ModelError(f"{app.name}: models were built for preprocessing v{have}, this app uses v{want}",
                         hint=_HINT)
    if variant is None:
        from .selftest import device_choice

        variant = device_choice(app, settings, config)["chosen"]
    if variant not in entry.variants:
        raise NotFoundError(f"{app.name}/{config} has no variant {variant!r}; "
                            f"shipped: {', '.join(entry.variants) or 'none'}")
    record = entry.variants[variant]
    return _resolve(folder, record.file), record


def load_runner(app, settings, *, config: str | None = None, variant: str | None = None):
    """The ONNX runner (``runner(x) -> dict``) for an app's released model.

    Verifies the file's sha256 against the manifest (once per process and file version) and
    returns the cached :class:`~edgeinv.common.runtime.session.OnnxModel` with ``settings.threads``.
    """
    if settings is None:
        raise ConfigError("load_runner needs settings (models_dir, threads)")
    path, record = variant_path(app, settings, config=config, variant=variant)
    if not path.is_file():
        raise ModelError(f"{app.name}: model file {record.file} is missing", hint=_HINT)
    _verify_file(path, record.sha256)
    return load_model(path, threads=int(getattr(settings, "threads", 1)))


# ---- signatures and encryption at rest --------------------------------------------------------------


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigError("release signing/encryption needs the 'cryptography' package (pip install cryptography)") from None
    return serialization, ed25519, AESGCM


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as ``(private PEM, public PEM)``; keep the private one off the device."""
    serialization, ed25519, _ = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def sign_release(models_dir_of_app: str | Path, private_key_pem: bytes) -> Path:
    """Sign ``manifest.json`` (which pins every file's sha256); writes and returns ``manifest.json.sig``."""
    serialization, ed25519, _ = _crypto()
    folder = Path(models_dir_of_app)
    read_manifest(folder)
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError("the signing key must be an Ed25519 private key")
    sig = folder / SIGNATURE_NAME
    sig.write_bytes(key.sign((folder / MANIFEST_NAME).read_bytes()).hex().encode("ascii") + b"\n")
    return sig


def verify_signature(models_dir_of_app: str | Path, public_key_pem: bytes) -> dict[str, str]:
    """Check the manifest's Ed25519 signature, then every file's sha256 (:func:`verify_release`).

    Raises ModelIntegrityError if the signature is missing or does not match.
    """
    serialization, ed25519, _ = _crypto()
    from cryptography.exceptions import InvalidSignature

    folder = Path(models_dir_of_app)
    sig_path = folder / SIGNATURE_NAME
    if not sig_path.is_file():
        raise ModelIntegrityError(f"{folder}: the release is not signed ({SIGNATURE_NAME} missing)")
    try:
        key = serialization.load_pem_public_key(public_key_pem)
        signature = bytes.fromhex(sig_path.read_text(encoding="ascii").strip())
        key.verify(signature, (folder / MANIFEST_NAME).read_bytes())
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        raise ModelIntegrityError(f"{folder}: the manifest signature does not verify with this public key") from None
    return verify_release(folder)


def encrypt_file(path: str | Path, key: bytes, *, out: str | Path | None = None) -> Path:
    """Encrypt a model file with a 32-byte device key (AES-256-GCM); writes ``<path>.enc`` by default."""
    import os

    *_, AESGCM = _crypto()
    if len(key) != 32:
        raise ConfigError(f"the device key must be 32 bytes, got {len(key)}")
    src = Path(path)
    dst = Path(out) if out else src.with_name(src.name + ".enc")
    nonce = os.urandom(12)
    dst.write_bytes(_ENC_MAGIC + nonce + AESGCM(key).encrypt(nonce, src.read_bytes(), _ENC_MAGIC))
    return dst


def decrypt_file(path: str | Path, key: bytes) -> bytes:
    """The plaintext of :func:`encrypt_file`'s output (in memory); ModelIntegrityError if it fails."""
    *_, AESGCM = _crypto()
    from cryptography.exceptions import InvalidTag

    data = Path(path).read_bytes()
    if not data.startswith(_ENC_MAGIC):
        raise ModelIntegrityError(f"{Path(path).name} is not an edgeinv-encrypted model")
    body = data[len(_ENC_MAGIC):]
    try:
        return AESGCM(key).decrypt(body[:12], body[12:], _ENC_MAGIC)
    except (InvalidTag, ValueError):
        raise ModelIntegrityError(f"{Path(path).name}: wrong device key or corrupted file") from None


# ---- device keys: models encrypted at rest for one device --------------------------------------------

DEVICE_KEY_ENV = "EDGEINV_DEVICE_KEY"
DEFAULT_DEVICE_KEY = Path("/etc/edgeinv/device.key")
MODEL_KEY_NAME = "model_key.json"
_WRAP_INFO = b"edgeinv model key v1"


def generate_device_key() -> tuple[bytes, bytes]:
    """A new X25519 key pair ``(private PEM, public PEM)``; the private one stays on the device (0600)."""
    serialization, *_ = _crypto()
    from cryptography.hazmat.primitives.asymmetric import x25519

    key = x25519.X25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _wrapping_key(shared: bytes, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_WRAP_INFO).derive(shared)


def wrap_content_key(content_key: bytes, device_public_pem: bytes) -> dict:
    """Seal a 32-byte model key for one device: ephemeral X25519 + HKDF-SHA256 + AES-256-GCM."""
    import os

    serialization, _, AESGCM = _crypto()
    from cryptography.hazmat.primitives.asymmetric import x25519

    try:
        device = serialization.load_pem_public_key(device_public_pem)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--encrypt-for: not a PEM public key ({exc})") from None
    if not isinstance(device, x25519.X25519PublicKey):
        raise ConfigError("--encrypt-for needs the device's X25519 public key (edgeinv keygen --device DIR)")
    eph = x25519.X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    dev_raw = device.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    nonce = os.urandom(12)
    wrapped = AESGCM(_wrapping_key(eph.exchange(device), eph_pub + dev_raw)).encrypt(nonce, content_key, _WRAP_INFO)
    return {"scheme": "X25519-HKDF-SHA256-AES256GCM", "ephemeral": eph_pub.hex(), "device": dev_raw.hex(),
            "nonce": nonce.hex(), "wrapped": wrapped.hex()}


def device_key_path() -> Path:
    import os

    return Path(os.environ.get(DEVICE_KEY_ENV) or DEFAULT_DEVICE_KEY)


def load_device_key(path: str | Path | None = None):
    """The device's X25519 private key; ConfigError when missing or readable by others than its owner."""
    import stat

    serialization, *_ = _crypto()
    path = Path(path) if path else device_key_path()
    try:
        st = path.stat()
    except OSError:
        raise ConfigError(f"the models are encrypted for a device but the device key {path} is missing",
                          hint=f"set {DEVICE_KEY_ENV} to the key made by `edgeinv keygen --device`") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"the device key {path} must be readable by its owner only (chmod 600 {path})")
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(f"{path} is not a PEM private key ({exc})") from None


_KEYS: dict[tuple, bytes] = {}


def device_model_key(model_path: str | Path) -> bytes:
    """The content key of an encrypted model: ``model_key.json`` next to its manifest, unsealed with the
    device key. Raises ConfigError / ModelIntegrityError with a clear message."""
    *_, AESGCM = _crypto()
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import x25519

    folder = Path(model_path).resolve().parent
    while not (folder / MODEL_KEY_NAME).is_file():
        if folder.parent == folder or (folder / MANIFEST_NAME).is_file():
            raise ModelError(f"{Path(model_path).name} is encrypted; a device key is needed and no {MODEL_KEY_NAME} "
                             "(the key sealed for this device) is next to its manifest")
        folder = folder.parent
    key_file = folder / MODEL_KEY_NAME
    cache_key = (str(key_file), key_file.stat().st_mtime_ns, str(device_key_path()))
    if cache_key in _KEYS:
        return _KEYS[cache_key]
    try:
        sealed = json.loads(key_file.read_text())
        eph, dev, nonce, wrapped = (bytes.fromhex(sealed[k]) for k in ("ephemeral", "device", "nonce", "wrapped"))
    except (ValueError, KeyError, TypeError):
        raise ModelIntegrityError(f"{key_file} is not valid") from None
    priv = load_device_key()
    if not isinstance(priv, x25519.X25519PrivateKey):
        raise ConfigError(f"{device_key_path()} is not an X25519 device key")
    mine = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if mine != dev:
        raise ConfigError("these models were encrypted for another device (its public key differs from "
                          f"{device_key_path()})")
    try:
        content = AESGCM(_wrapping_key(priv.exchange(x25519.X25519PublicKey.from_public_bytes(eph)), eph + dev)).decrypt(
            nonce, wrapped, _WRAP_INFO)
    except (InvalidTag, ValueError):
        raise ModelIntegrityError(f"{key_file}: the sealed model key does not open with this device key") from None
    _KEYS[cache_key] = content
    return content
