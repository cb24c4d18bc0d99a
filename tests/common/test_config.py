"""Settings precedence: defaults < TOML file < EDGEINV_* environment < explicit overrides."""

import pytest

from edgeinv.common.config import Settings, load_settings
from edgeinv.common.errors import ConfigError


def test_precedence(tmp_path):
    cfg = tmp_path / "edgeinv.toml"
    cfg.write_text('port = 9000\nthreads = 2\nhost = "0.0.0.0"\n')
    s = load_settings(cfg, env={"EDGEINV_PORT": "9100"}, threads=3)
    assert (s.port, s.threads, s.host) == (9100, 3, "0.0.0.0")
    assert not s.is_loopback
    assert Settings().is_loopback and Settings().threads == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"port": 0}, "port must be in 1..65535"),
    ({"threads": 0}, "threads must be >= 1"),
    ({"max_upload_mb": -1}, "max_upload_mb must be > 0"),
])
def test_invalid_values_name_the_parameter(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**kwargs)


def test_bad_files_and_keys(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    unknown = tmp_path / "u.toml"
    unknown.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(unknown, env={})
    with pytest.raises(ConfigError, match="expects"):
        load_settings(env={"EDGEINV_PORT": "eighty"})
