"""Settings as a frozen dataclass: defaults < config file (TOML) < EDGEINV_* environment < CLI flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_models_dir() -> Path:
    return REPO_ROOT / "models"


def realdata_root() -> Path:
    """Where real labelled data lives (one folder per app name): ``EDGEINV_REALDATA`` or ``../shared/realdata``."""
    env = os.environ.get("EDGEINV_REALDATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "realdata"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "edgeinv"


@dataclass(frozen=True)
class Settings:
    """Everything a deployment can set.

    Parameters
    ----------
    models_dir : released models, one folder per app (``models/<app>/manifest.json``).
    data_dir : where the shared SQLite result store and uploaded files live.
    host, port : where ``edgeinv serve`` listens. Anything but loopback requires a login.
    threads : ONNX Runtime intra-op threads (1, as on a small device).
    max_upload_mb : uploads larger than this are refused with HTTP 413.
    password : UI password when bound to a non-loopback host; generated and printed if empty.
    latency_budget_ms : above this the model switcher falls back to the light variant.
    """

    models_dir: Path = field(default_factory=_default_models_dir)
    data_dir: Path = field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 1
    max_upload_mb: float = 64.0
    password: str = ""
    latency_budget_ms: float = 50.0
    secret_key: str = ""

    def __post_init__(self):
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not (0 < int(self.port) < 65536):
            raise ConfigError(f"port must be in 1..65535, got {self.port!r}")
        if int(self.threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads!r}")
        if not float(self.max_upload_mb) > 0:
            raise ConfigError(f"max_upload_mb must be > 0, got {self.max_upload_mb!r}")
        if not float(self.latency_budget_ms) > 0:
            raise ConfigError(f"latency_budget_ms must be > 0, got {self.latency_budget_ms!r}")

    @property
    def is_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edgeinv.sqlite3"

    def replace(self, **changes) -> "Settings":
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw, target_type):
    try:
        if target_type in (int, "int"):
            return int(raw)
        if target_type in (float, "float"):
            return float(raw)
        if target_type in (Path, "Path"):
            return Path(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} expects {target_type}, got {raw!r}") from None


def load_settings(config_file: str | Path | None = None, env: dict | None = None, **overrides) -> Settings:
    """Build Settings from defaults, an optional TOML file, EDGEINV_* variables and explicit overrides."""
    env = os.environ if env is None else env
    values: dict = {}
    types = {f.name: f.type for f in fields(Settings)}
    path = config_file or env.get("EDGEINV_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        for k, v in data.items():
            if k not in types:
                raise ConfigError(f"unknown setting {k!r} in {path}; allowed: {', '.join(types)}")
            values[k] = _coerce(k, v, types[k])
    for k, t in types.items():
        raw = env.get(f"EDGEINV_{k.upper()}")
        if raw not in (None, ""):
            values[k] = _coerce(k, raw, t)
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in types:
            raise ConfigError(f"unknown setting {k!r}; allowed: {', '.join(types)}")
        values[k] = _coerce(k, v, types[k])
    return Settings(**values)
