"""Readers accept WAV/CSV/npy/npz/CWRU .mat and reject broken files with clear edgeinv errors."""

import io

import numpy as np
import pytest
import scipy.io
import soundfile as sf

from edgeinv.apps.bearing_wear import APP
from edgeinv.apps.bearing_wear.io import read_recording
from edgeinv.common.errors import (InvalidInputError, MissingMetadataError, PayloadTooLargeError,
                                   UnsupportedFormatError)

FS, RPM = 12000.0, 1797.0
N = 30000  # > one window (12 821 samples at 1797 rpm and 12 kHz; 28 224 at 3000 rpm and 44.1 kHz)


@pytest.fixture
def signal(rng):
    return (0.1 * rng.standard_normal(N)).astype(np.float32)


def _wav(x, fs=12000, subtype="FLOAT", comment=None):
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=fs, channels=1 if x.ndim == 1 else x.shape[1], format="WAV", subtype=subtype) as f:
        if comment:
            f.comment = comment
        f.write(x)
    return buf.getvalue()


def test_wav_with_metadata_comment(signal):
    rec = read_recording(_wav(signal, comment="rpm=1797; bearing=6203-2rs"), filename="a.wav")
    assert rec.fs_hz == FS and rec.rpm == RPM and rec.geometry.n_elements == 8
    np.testing.assert_allclose(rec.signal, signal, atol=1e-7)


def test_wav_any_rate_and_pcm16_needs_rpm(signal):
    data = _wav(np.clip(signal, -1, 1), fs=44100, subtype="PCM_16")
    with pytest.raises(MissingMetadataError, match="shaft speed"):
        read_recording(data, filename="b.wav")
    rec = read_recording(data, filename="b.wav", rpm=3000)
    assert rec.fs_hz == 44100 and rec.rpm == 3000 and rec.meta["rpm_source"] == "flag"


def test_wav_stereo_channel_choice(signal):
    data = _wav(np.column_stack([signal, 2 * signal]), comment="rpm=1797")
    np.testing.assert_allclose(read_recording(data, filename="s.wav", channel=1).signal, 2 * signal, atol=1e-6)


def test_csv_one_column_needs_fs(signal):
    text = "\n".join(f"{v:.7g}" for v in signal).encode()
    with pytest.raises(MissingMetadataError, match="sampling rate"):
        read_recording(text, filename="x.csv", rpm=RPM)
    rec = read_recording(text, filename="x.csv", rpm=RPM, fs_hz=FS)
    assert len(rec.signal) == N


def test_csv_time_and_value_columns_give_fs(signal):
    t = np.arange(N) / FS
    body = "time_s;acc\n" + "\n".join(f"{a:.8f};{b:.7g}" for a, b in zip(t, signal))
    rec = read_recording(("# rpm=1797\n" + body).encode(), filename="x.csv")
    assert rec.fs_hz == pytest.approx(FS, rel=1e-6) and rec.rpm == RPM
    ms = "time_ms,acc\n" + "\n".join(f"{a * 1e3:.6f},{b:.7g}" for a, b in zip(t, signal))
    assert read_recording(ms.encode(), filename="x.csv", rpm=RPM).fs_hz == pytest.approx(FS, rel=1e-5)
    noheader = "\n".join(f"{a:.8f}\t{b:.7g}" for a, b in zip(t, signal))
    assert read_recording(noheader.encode(), filename="x.txt", rpm=RPM).fs_hz == pytest.approx(FS, rel=1e-6)


def test_csv_several_value_columns(signal):
    t = np.arange(N) / FS
    body = "time,de,fe\n" + "\n".join(f"{a:.8f},{b:.7g},{-b:.7g}" for a, b in zip(t, signal))
    rec = read_recording(body.encode(), filename="x.csv", rpm=RPM, channel="fe")
    np.testing.assert_allclose(rec.signal, -signal, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="no channel"):
        read_recording(body.encode(), filename="x.csv", rpm=RPM, channel="ba")


def test_npy_and_npz(signal):
    buf = io.BytesIO()
    np.save(buf, signal)
    with pytest.raises(MissingMetadataError):
        read_recording(buf.getvalue(), filename="x.npy", rpm=RPM)
    assert len(read_recording(buf.getvalue(), filename="x.npy", rpm=RPM, fs_hz=FS).signal) == N
    buf = io.BytesIO()
    np.savez(buf, signal=signal, fs_hz=FS, rpm=RPM)
    rec = read_recording(buf.getvalue(), filename="x.npz")
    assert rec.fs_hz == FS and rec.rpm == RPM


def _cwru(signal, **extra):
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"X097_DE_time": signal.astype(float)[:, None], "X097_FE_time": 0.5 * signal.astype(float)[:, None],
                           "X097RPM": np.array([[1796.0]]), **extra})
    return buf.getvalue()


def test_cwru_mat_layout(signal):
    data = _cwru(signal)
    with pytest.raises(MissingMetadataError, match="sampling rate") as exc:
        read_recording(data, filename="97.mat")
    assert "--fs" in str(exc.value)
    rec = read_recording(data, filename="97.mat", fs_hz=FS)
    assert rec.channel == "X097_DE_time" and rec.rpm == 1796.0
    np.testing.assert_allclose(rec.signal, signal, rtol=1e-6)
    fe = read_recording(data, filename="97.mat", fs_hz=FS, channel="FE")
    assert fe.channel == "X097_FE_time"
    np.testing.assert_allclose(fe.signal, 0.5 * signal, rtol=1e-6)
    long = np.tile(signal, 2)  # one window at 48 kHz is 51 314 samples
    assert read_recording(_cwru(long, fs=np.array([[48000.0]])), filename="97.mat").fs_hz == 48000.0
    with pytest.raises(InvalidInputError, match="no 'BA' channel"):
        read_recording(data, filename="97.mat", fs_hz=FS, channel="BA")


@pytest.mark.parametrize("suffix", [".wav", ".csv", ".npz", ".mat"])
def test_write_example_reads_back(tmp_path, suffix):
    path = tmp_path / f"ex{suffix}"
    info = APP.write_example(path, np.random.default_rng(1), fault="inner_race", size_mm=1.0, rpm=1500, fs=12000, duration=2.0)
    assert info["fault"] == "inner_race"
    rec = APP.read(path, **({"fs_hz": 12000} if suffix == ".mat" else {}))
    assert rec.fs_hz == 12000 and abs(rec.rpm - 1500) < 1 and len(rec.signal) == 24000


# ---- broken input ------------------------------------------------------------------------------


def test_empty_and_garbage():
    with pytest.raises(InvalidInputError, match="empty"):
        read_recording(b"", filename="x.wav")
    with pytest.raises(UnsupportedFormatError):
        read_recording(b"\x00\x01garbage\xff" * 20, filename="upload.bin")
    with pytest.raises(UnsupportedFormatError):
        read_recording(b"\x00\x01garbage\xff" * 20, filename="x.wav")
    with pytest.raises(InvalidInputError, match="not numeric|no numeric"):
        read_recording(b"not,a,valid\nfile", filename="x.csv", rpm=RPM, fs_hz=FS)


def test_truncated_files(signal):
    wav = _wav(signal, comment="rpm=1797")
    with pytest.raises(InvalidInputError, match="truncated"):
        read_recording(wav[: len(wav) // 2], filename="x.wav")
    buf = io.BytesIO()
    np.save(buf, signal)
    with pytest.raises(InvalidInputError, match="truncated"):
        read_recording(buf.getvalue()[:-1000], filename="x.npy", fs_hz=FS, rpm=RPM)
    mat = _cwru(signal)
    with pytest.raises(InvalidInputError):
        read_recording(mat[: len(mat) // 2], filename="x.mat", fs_hz=FS)
    t = np.arange(N) / FS
    csv = "\n".join(f"{a:.8f},{b:.7g}" for a, b in zip(t, signal)) + "\n0.5"
    with pytest.raises(InvalidInputError, match="columns"):
        read_recording(csv.encode(), filename="x.csv", rpm=RPM)


def test_nan_inf_constant(signal):
    bad = signal.copy()
    bad[10] = np.nan
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        read_recording(_wav(bad, comment="rpm=1797"), filename="x.wav")
    buf = io.BytesIO()
    bad[10] = np.inf
    np.save(buf, bad)
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        read_recording(buf.getvalue(), filename="x.npy", fs_hz=FS, rpm=RPM)
    with pytest.raises(InvalidInputError, match="not numeric"):
        read_recording(b"acc\n0.1\nnan-ish\n", filename="x.csv", fs_hz=FS, rpm=RPM)
    with pytest.raises(InvalidInputError, match="constant"):
        read_recording(_wav(np.full(N, 0.25, np.float32), comment="rpm=1797"), filename="x.wav")


def test_oversized_and_too_short(signal):
    with pytest.raises(PayloadTooLargeError):
        read_recording(_wav(signal, comment="rpm=1797"), filename="x.wav", max_samples=N - 1)
    with pytest.raises(InvalidInputError, match="too short"):
        read_recording(_wav(signal[:12000], comment="rpm=1797"), filename="x.wav")


def test_bad_metadata_values(signal):
    data = _wav(signal, comment="rpm=1797")
    with pytest.raises(InvalidInputError, match="rpm"):
        read_recording(data, filename="x.wav", rpm=-5)
    with pytest.raises(InvalidInputError, match="sampling rate"):
        read_recording(data, filename="x.wav", fs_hz=100.0)
    with pytest.raises(InvalidInputError, match="units"):
        read_recording(data, filename="x.wav", units="furlongs")
    with pytest.raises(UnsupportedFormatError, match="v7.3"):
        read_recording(b"\x89HDF\r\n\x1a\n" + b"\x00" * 600, filename="x.mat", fs_hz=FS)


def _mfpt(signal, *, with_sr=True, with_rate=True):
    fields = {"gs": signal.astype(float), "load": 50}
    if with_sr:
        fields["sr"] = 48828
    if with_rate:
        fields["rate"] = 25
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"bearing": fields, "BPFO": 81.125, "BPFI": 118.875, "BSF": 63.91, "FTF": 14.838})
    return buf.getvalue()


def test_mfpt_struct_layout_gives_fs_speed_and_geometry(rng):
    x = (0.1 * rng.standard_normal(150_000)).astype(np.float32)
    rec = read_recording(_mfpt(x), filename="OuterRaceFault_vload_2.mat")
    assert rec.fs_hz == 48828 and rec.rpm == 1500.0 and rec.channel == "bearing.gs"
    assert rec.geometry.n_elements == 8 and rec.meta["load"] == "50" and rec.meta["geometry_scale_known"] is False
    from edgeinv.apps.bearing_wear.physics import defect_orders
    o = defect_orders(geometry=rec.geometry)
    assert o["bpfo"] * 25 == pytest.approx(81.125, rel=1e-3) and o["bpfi"] * 25 == pytest.approx(118.875, rel=1e-3)
    # a user's --bearing overrides the geometry from the defect frequencies and gives the scale
    rec2 = read_recording(_mfpt(x), filename="o.mat", bearing="n=8,d=5.969,D=31.623,angle=0")
    assert rec2.meta["geometry_scale_known"] is True


def test_mfpt_struct_missing_fields_are_named(rng):
    x = (0.1 * rng.standard_normal(150_000)).astype(np.float32)
    with pytest.raises(MissingMetadataError, match="bearing.sr"):
        read_recording(_mfpt(x, with_sr=False), filename="o.mat")
    with pytest.raises(MissingMetadataError, match="bearing.rate"):
        read_recording(_mfpt(x, with_rate=False), filename="o.mat")
    assert read_recording(_mfpt(x, with_sr=False), filename="o.mat", fs_hz=48828).fs_hz == 48828


def test_single_variable_of_any_name(rng):
    x = rng.standard_normal(120_000)
    for var in ("z20_4", "VarName5", "inside2d_900_1"):
        buf = io.BytesIO()
        scipy.io.savemat(buf, {var: x})
        with pytest.raises(MissingMetadataError, match="sampling rate"):
            read_recording(buf.getvalue(), filename="IR2_900.mat")
        rec = read_recording(buf.getvalue(), filename="IR2_900.mat", fs_hz=51200, rpm=900)
        assert rec.channel == var and len(rec.signal) == 120_000


def test_csv_fast_body_parse_equals_the_line_by_line_parse(monkeypatch):
    """Plain numeric CSV bodies are converted in one go; the result (or the error) is the line-by-line one."""
    from edgeinv.apps.bearing_wear import io as bio

    x = np.random.default_rng(3).standard_normal(300)
    one = "\n".join(f"{v:.6f}" for v in x)
    two = "# fs=12000\ntime,acc\n" + "\n".join(f"{i / 12000:.8f}, {v:.6f}" for i, v in enumerate(x))
    inputs = [one, "acc\n" + one + "\n", two, two.replace(",", ";"), two.replace(", ", "\t")]
    for tail in ("\n\n5", "\n# end", "\nnan", "\n1_0", '\n"1.0"', "\n1 2", "\nabc", "\n1,2", "\r\n5"):
        inputs += [one + tail, two + tail.replace("\n", "\n0.1,")]
    # one row a cell too many, another a cell short: the delimiter total is right, the per-line count is not
    inputs += [two + "\n0.1,0.2,0.3\n0.4", two.replace(",", ";") + "\n0.4\n0.1;0.2;0.3"]

    def parse(text):
        try:
            sig, meta, chan = bio._read_csv(text.encode(), "f.csv", None)
            return "ok", np.asarray(sig).tobytes(), meta, chan
        except Exception as exc:  # noqa: BLE001 (the same error either way is the point)
            return "error", type(exc).__name__, str(exc)

    fast = [parse(t) for t in inputs]
    assert sum(r[0] == "ok" for r in fast) >= 8 and any(r[0] == "error" for r in fast)
    monkeypatch.setattr(bio, "numeric_table", lambda *a, **k: None)
    assert [parse(t) for t in inputs] == fast
