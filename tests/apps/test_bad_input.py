"""Bad input through every entry point of every app: the reader, ``edgeinv <app> predict`` and the upload API.

A valid example file per app (``app.write_example``) is broken the ways files get broken: empty,
truncated (40 % of the bytes, mid-row for text as a dropped transfer leaves it; or cut inside the
header), wrong format (PNG bytes named .csv, CSV text named .wav/.tif, random bytes), NaN/inf values
(text: a value replaced by ``nan``/``inf``; binary: the data written with NaN/inf where the format
stores floats) and oversized (the app's own limits made small). Each broken file must give (1) from
``app.read_many`` an InvalidInputError/PayloadTooLargeError and nothing else; (2) from the CLI exit 2,
one ``error: ...`` line on stderr (file-descriptor level), one JSON error on stdout, no output file;
(3) from the upload API a 4xx ``{"error", "message", "status"}`` body, with a good upload made just
before still listed unchanged and the entity's settings untouched.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re

import numpy as np
import pytest

from edgeinv.common.app import all_apps
from edgeinv.common.cli import main
from edgeinv.common.errors import InvalidInputError, PayloadTooLargeError

APPS = all_apps()
TEXT = (".csv", ".txt", ".tsv")
FOREIGN_CSV = "".join(f"{i},{math.sin(i / 3):.4f}\n" for i in range(40)).encode()  # 40 rows of (i, sin)
# Per app: example options (small files), meta/flags every file gets, the entity to create, the upload
# endpoint and its options, the listing of results, its size limit made small ((meta, flags); None: the
# too_many_leaves file), and upload options / an entity body that are bad input themselves.
SPECS = {
    "bearing-wear": dict(
        example={"duration": 3.0, "fs": 12000, "rpm": 1797}, meta={"fs_hz": 12000.0, "rpm": 1797.0},
        cli=["--fs", "12000", "--rpm", "1797"], listing="/api/entities/{id}",
        create=("/api/entities", {"name": "Pump P-101", "bearing": "6205-2rs", "rpm": 1797, "fs_hz": 12000}),
        upload="/api/entities/{id}/uploads", params={"measured_at": "2026-03-01T08:00:00Z"},
        limit=({"max_samples": 1000}, ["--max-samples", "1000"]),
        bad_params=[{"measured_at": "9999-12-31T23:59:59-23:59"}, {"fs": "nan"}, {"rpm": "inf"}, {"units": "ft/s2"}],
        bad_body={"name": "Fan", "rpm": {"value": 1797}}, bad_meta={"units": "ft/s2", "rpm": float("nan")}),
    "leaf-nitrogen": dict(
        example={}, meta={}, cli=[], listing="/api/entities/{id}",
        create=("/api/entities", {"name": "North", "crop": "maize", "stage": "V6"}),
        upload="/api/entities/{id}/uploads", params={"stage": "V10", "reference": "1"}, limit=None,
        bad_params=[{"stage": "ZZ"}], bad_body={"name": "South", "crop": ["maize"], "stage": "V6"},
        bad_meta={"n_to_protein": "abc"}),
    "veg-cover": dict(
        example={}, meta={}, cli=[], listing="/api/entities/{id}",
        create=("/api/entities", {"name": "Flight 1", "zone_m": 2.0}), upload="/api/entities/{id}/uploads", params={},
        limit=({"max_pixels": 1000}, ["--max-pixels", "1000"]),  # frames only (GeoTIFFs stream): a PNG frame
        bad_params=[{"bands": "red,red"}, {"bands": "red,nir"}, {"bands": "chlorophyll"}],
        bad_body={"name": "Flight 2", "camera": ["rgb"]}, bad_meta={"bands": "red,red"}),
}
COMMON = ("empty", "truncated_40pct", "cut_mid_header", "png_named_csv", "csv_named_wav", "csv_named_tif",
          "random_binary", "nan_value", "inf_value", "oversized")
# Compression and header bombs (tests/common/bombs.py): a few KB that declare GBs once decoded; each must be
# refused from its header (PayloadTooLargeError, 413) before anything is decoded, whatever the entry point.
BOMBS = {"bearing-wear": ("flac_bomb", "mat_zlib_bomb", "npz_bomb", "npy_bomb"),
         "leaf-nitrogen": ("csv_long_field", "csv_many_lines"),
         "veg-cover": ("jpeg_header_bomb", "jpeg_tall_bomb", "png_header_bomb")}
EXTRA = {"bearing-wear": ("nan_wav", "inf_npy", "nan_npz", "corrupt_npy_header", "npz_text_rpm", "mat_empty_rpm",
                          "bad_bearing_tag", *BOMBS["bearing-wear"]),
         "leaf-nitrogen": ("too_many_leaves", *BOMBS["leaf-nitrogen"]),
         "veg-cover": ("nan_in_later_tile", "truncated_png_frame", *BOMBS["veg-cover"])}
ALL_BOMBS = {v for b in BOMBS.values() for v in b}
CASES = [(a, v) for a in APPS for v in (*COMMON, *EXTRA.get(a, ()))]
_WRONG = r"not a |binary|wavelengths run|too short|needs --bands"
REASON = {"empty": "empty", "truncated_40pct": r"truncat|ragged|not a readable", "png_named_csv": _WRONG, "csv_named_wav": _WRONG,
          "cut_mid_header": r"truncat|corrupt|no numeric rows|no data rows|not a readable", "csv_named_tif": _WRONG,
          "random_binary": _WRONG, "corrupt_npy_header": "corrupt", "npz_text_rpm": "rpm must be a number",
          "mat_empty_rpm": "rpm must be a number", "bad_bearing_tag": "bearing tag", "truncated_png_frame": "truncated",
          **{b: r"refused before decoding|exceeds the limit" for b in ALL_BOMBS}}
WEB_VALID = {"bad_bearing_tag"}  # the upload API passes the machine's bearing, which overrides the file's tag


def test_every_app_has_a_spec():
    assert set(APPS) <= set(SPECS), f"add {sorted(set(APPS) - set(SPECS))} to SPECS in this module"


@dataclasses.dataclass
class Broken:
    data: bytes
    filename: str
    meta: dict = dataclasses.field(default_factory=dict)
    cli: list = dataclasses.field(default_factory=list)
    spec_flags: bool = True  # False: the file's own metadata is what is broken: no --fs/--rpm over it


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """app name -> (valid bytes, suffix, folder) of a freshly written example, built once per module."""
    cache = {}

    def get(name):
        if name not in cache:
            app, folder = APPS[name], tmp_path_factory.mktemp(name)
            path = folder / f"example{app.example_suffix}"
            app.write_example(path, np.random.default_rng(5), **SPECS[name]["example"])
            cache[name] = (path.read_bytes(), app.example_suffix, folder)
        return cache[name]

    return get


def _replace_value(data: bytes, token: str) -> bytes:
    """Text file with the second field of its middle data row replaced by ``token``."""
    lines = data.decode().splitlines()
    i = [i for i, ln in enumerate(lines) if ln[:1].isdigit() or ln[:1] == "-"][len(lines) // 2]
    lines[i] = ",".join([lines[i].split(",")[0], token, *lines[i].split(",")[2:]])
    return "\n".join(lines).encode() + b"\n"


def _tiff_with(data: bytes, folder, value: float, rowcol=(128, 128), size=256) -> bytes:
    """The GeoTIFF rewritten (same profile, tiled out to ``size`` px) with ``value`` in every band at one pixel."""
    import rasterio
    from rasterio.io import MemoryFile

    with MemoryFile(data) as mem, mem.open() as ds:
        profile, arr, descs = ds.profile, ds.read(), ds.descriptions
    assert arr.dtype.kind == "f", "the example must be a float GeoTIFF to carry NaN"
    arr = np.tile(arr, (1, -(-size // arr.shape[1]), -(-size // arr.shape[2])))[:, :size, :size].copy()
    arr[:, rowcol[0], rowcol[1]] = value
    path = folder / f"with_{value}_{size}.tif"
    with rasterio.open(path, "w", **{**profile, "width": size, "height": size}) as ds:
        ds.write(arr)
        ds.descriptions = descs
    return path.read_bytes()


def _bearing_file(data: bytes, folder, ext: str, value: float = 0.0, **arrays) -> bytes:
    """The example recording as .wav/.npy/.npz/.mat with ``value`` at its middle sample (or extra ``arrays``)."""
    import scipy.io

    from edgeinv.apps.bearing_wear.io import write_recording

    rec = APPS["bearing-wear"].read(data, filename="example.csv")
    x = rec.signal.copy()
    x[len(x) // 2] = value
    path = folder / f"bad_{value}.{ext}"
    if ext == "npz" and arrays:
        np.savez(path, signal=x, **arrays)
    elif arrays:
        scipy.io.savemat(path, {"X000_DE_time": x[:, None].astype(np.float64), **arrays})
    else:
        write_recording(path, x, fs_hz=rec.fs_hz, rpm=rec.rpm)
    return path.read_bytes()


def make_broken(name: str, variant: str, examples) -> Broken:
    data, suffix, folder = examples(name)
    text, frame = suffix in TEXT, folder / "frame.png"  # an RGB PNG frame for veg-cover's frame limits
    if name == "veg-cover" and not frame.exists():
        APPS[name].write_example(frame, np.random.default_rng(6), camera="rgb", size=64)
    if variant == "empty":
        return Broken(b"", f"empty{suffix}")
    if variant == "truncated_40pct":
        cut = int(0.4 * len(data))
        if text:  # mid-row (a cut exactly at a line end is a valid, shorter file)
            start = data.rfind(b"\n", 0, cut) + 1
            cut = start + (data.index(b"\n", cut) - start) // 2
        return Broken(data[:cut], f"cut{suffix}")
    if variant == "cut_mid_header":
        if not text:
            return Broken(data[:100], f"cut{suffix}")  # TIFF: inside the first IFD
        pos = 0
        while data[pos:pos + 1] in (b"#", b"%"):  # past comment lines, into the column-header line
            pos = data.index(b"\n", pos) + 1
        return Broken(data[:pos + (data.index(b"\n", pos) - pos) // 2], f"cut{suffix}")
    if variant == "png_named_csv":
        import cv2

        return Broken(cv2.imencode(".png", np.arange(256, dtype=np.uint8).reshape(16, 16))[1].tobytes(), "img.csv")
    if variant in ("csv_named_wav", "csv_named_tif"):
        return Broken(FOREIGN_CSV, f"table.{variant[-3:]}")
    if variant == "random_binary":
        return Broken(np.random.default_rng(9).bytes(4096), f"random{suffix}")
    if variant in ("nan_value", "inf_value"):
        token = variant[:3]
        bad = _replace_value(data, token) if text else _tiff_with(data, folder, float(token))
        return Broken(bad, f"{token}{suffix}")
    if variant == "oversized" and SPECS[name]["limit"]:
        meta, flags = SPECS[name]["limit"]
        src = frame if name == "veg-cover" else folder / f"example{suffix}"
        return Broken(src.read_bytes(), f"long{src.suffix}", meta, flags)
    if variant in ("oversized", "too_many_leaves"):  # leaf-nitrogen: one more leaf column than MAX_LEAVES
        from edgeinv.apps.leaf_nitrogen.io import MAX_LEAVES

        rows = [ln.split(",")[:2] for ln in data.decode().splitlines()[1::40]]  # 53 bands of one leaf
        body = "".join(f"{w},{','.join([r] * (MAX_LEAVES + 1))}\n" for w, r in rows)
        head = ",".join(f"leaf{i}" for i in range(MAX_LEAVES + 1))
        return Broken(f"wavelength_nm,{head}\n{body}".encode(), "wide.csv")
    if variant in ("nan_wav", "inf_npy", "nan_npz"):
        return Broken(_bearing_file(data, folder, variant[4:], float(variant[:3])), f"bad.{variant[4:]}")
    if variant == "corrupt_npy_header":  # numpy's header parser raises tokenize.TokenError on this
        return Broken(_bearing_file(data, folder, "npy").replace(b"False", b"Fals(", 1), "bad.npy")
    if variant == "npz_text_rpm":
        return Broken(_bearing_file(data, folder, "npz", fs_hz=12000.0, rpm="fast"), "bad.npz", spec_flags=False)
    if variant == "mat_empty_rpm":
        return Broken(_bearing_file(data, folder, "mat", X000RPM=np.zeros((0, 0)), fs=np.array([[12000.0]])),
                      "bad.mat", spec_flags=False)
    if variant == "bad_bearing_tag":
        return Broken(data.replace(b"bearing=6205-2rs", b"bearing=6205-2r\x14", 1), f"tag{suffix}", spec_flags=False)
    if variant == "nan_in_later_tile":  # past the blocks the reader checks on open: found while streaming
        return Broken(_tiff_with(data, folder, float("nan"), rowcol=(300, 40), size=512), "late_nan.tif")
    if variant == "truncated_png_frame":
        return Broken(frame.read_bytes()[:int(0.6 * frame.stat().st_size)], "cut.png")
    if variant in ALL_BOMBS:
        import bombs

        made = {"flac_bomb": lambda: (bombs.flac_declaring(36), "bomb.flac"),
                "mat_zlib_bomb": lambda: (bombs.mat_zlib_declaring(268_000_000), "bomb.mat"),
                "npz_bomb": lambda: (bombs.npz_declaring(2**31 - 1, fs_hz=12000.0, rpm=1797.0), "bomb.npz"),
                "npy_bomb": lambda: (bombs.npy_declaring(268_000_000), "bomb.npy"),
                "csv_many_lines": lambda: (bombs.csv_lines(300_000, b"wavelength_nm,leaf1\n"), "lines.csv"),
                "csv_long_field": lambda: (bombs.csv_long_field(140_000), "field.csv"),
                "jpeg_header_bomb": lambda: (bombs.jpeg_declaring(7745, 7745), "bomb.jpg"),
                "jpeg_tall_bomb": lambda: (bombs.jpeg_declaring(900, 65500), "tall.jpg"),
                "png_header_bomb": lambda: (bombs.png_declaring(60000, 60000), "bomb.png")}[variant]()
        return Broken(*made)
    raise AssertionError(variant)


def test_valid_examples_read_and_predict(examples, tmp_path, capfd):
    """The files the broken ones derive from are good, so the failures below are the breakage's."""
    for name, app in APPS.items():
        data, suffix, _ = examples(name)
        assert app.read_many(data, filename=f"example{suffix}", **SPECS[name]["meta"])
        path = tmp_path / f"{app.package_name}{suffix}"
        path.write_bytes(data)
        assert main([name, "predict", str(path), "--json", *SPECS[name]["cli"]]) == 0, capfd.readouterr().err


@pytest.mark.parametrize("name,variant", CASES)
def test_reader_raises_edgeinv_errors(name, variant, examples, tmp_path):
    app, broken = APPS[name], make_broken(name, variant, examples)
    path = tmp_path / broken.filename
    path.write_bytes(broken.data)
    meta = {**(SPECS[name]["meta"] if broken.spec_flags else {}), **broken.meta}
    for source in (path, broken.data):
        with pytest.raises((InvalidInputError, PayloadTooLargeError)) as info:
            samples = app.read_many(source, filename=broken.filename, **meta)
            if variant == "nan_in_later_tile":  # a GeoTIFF streams: the bad tile shows while predicting
                from edgeinv.common.config import load_settings
                from edgeinv.common.runtime.bundle import load_runner

                runner = load_runner(app, load_settings(env={}), config=app.config_for(samples[0]))
                app.predict(samples[0], runner)
        assert re.search(REASON.get(variant, "NaN or infinite|more than|exceeds|at most|over the budget"), str(info.value)), info.value
        assert isinstance(info.value, PayloadTooLargeError) == (variant in ("oversized", "too_many_leaves", *ALL_BOMBS))


@pytest.mark.parametrize("name", list(APPS))
def test_reader_options_are_checked(name, examples):
    data, suffix, _ = examples(name)
    for key, value in SPECS[name]["bad_meta"].items():
        with pytest.raises(InvalidInputError, match=key.replace("_", "[-_]")):
            APPS[name].read_many(data, filename=f"example{suffix}", **{**SPECS[name]["meta"], key: value})


@pytest.mark.parametrize("name,variant", CASES)
def test_cli_prints_one_error_line(name, variant, examples, tmp_path, capfd):
    broken = make_broken(name, variant, examples)
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / broken.filename
    path.write_bytes(broken.data)
    rc = main([name, "predict", str(path), "--json", *(SPECS[name]["cli"] if broken.spec_flags else []), *broken.cli])
    out, err = capfd.readouterr()  # file-descriptor level: what C libraries print counts too
    assert "Traceback" not in out + err
    assert rc == 2, (rc, err)  # InvalidInputError / PayloadTooLargeError; 70 would be an internal error
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), err
    doc = json.loads(out)
    assert set(doc) >= {"error", "message", "status"} and 400 <= doc["status"] < 500
    assert [p.name for p in folder.iterdir()] == [broken.filename], "no half-written output next to the input"


def _snapshot(client, flask_app, name: str, eid: int):
    listing = client.get(f"/{name}" + SPECS[name]["listing"].format(id=eid))
    assert listing.status_code == 200
    store = flask_app.extensions["edgeinv"].store
    return {"results": store.list_results(name), "entity": store.get_entity(eid), "listing": listing.get_json()}


def _post(client, name, eid, data, filename, params, multipart=False):
    url = f"/{name}" + SPECS[name]["upload"].format(id=eid)
    if multipart:
        return client.post(url, query_string=params, data={"file": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")
    return client.post(url, query_string={"filename": filename, **params}, data=data,
                       content_type="application/octet-stream")


def _good_then_bad(flask_app, name, examples, bad: Broken, params, arm=lambda: None):
    """A good upload, then the bad one (raw body and multipart): 4xx JSON each time, the store unchanged."""
    client = flask_app.test_client()
    path, body = SPECS[name]["create"]
    r = client.post(f"/{name}{path}", json=body)
    assert r.status_code == 201, r.get_json()
    eid = r.get_json()["id"]
    data, suffix, _ = examples(name)
    good = _post(client, name, eid, data, f"example{suffix}", {})
    assert good.status_code == 201, good.get_json()
    before = _snapshot(client, flask_app, name, eid)
    assert len(before["results"]) == 1 and before["results"][0]["summary"]
    arm()
    docs = []
    for multipart in (False, True):
        r = _post(client, name, eid, bad.data, bad.filename, params, multipart=multipart)
        assert r.is_json, r.get_data(as_text=True)[:200]
        doc = r.get_json()
        assert 400 <= r.status_code < 500, doc
        assert set(doc) >= {"error", "message", "status"} and doc["status"] == r.status_code and doc["message"]
        assert _snapshot(client, flask_app, name, eid) == before, "a rejected upload changed what was stored"
        docs.append(doc)
    return docs


@pytest.mark.parametrize("name,variant", [c for c in CASES if c[1] != "oversized" and c[1] not in WEB_VALID])
def test_api_rejects_and_keeps_stored_results(name, variant, examples, app):
    _good_then_bad(app, name, examples, make_broken(name, variant, examples), SPECS[name]["params"])


@pytest.mark.parametrize("name", list(APPS))
def test_api_upload_over_the_size_limit(name, examples, settings):
    from edgeinv.common.web import create_app

    data, suffix, _ = examples(name)
    flask_app = create_app(settings.replace(max_upload_mb=1.5 * len(data) / 2**20))
    flask_app.config.update(TESTING=True)
    pad = b"\n" if suffix in TEXT else b"\0"  # harmless to the format: only the size is wrong
    for doc in _good_then_bad(flask_app, name, examples, Broken(data + pad * len(data), f"big{suffix}"), {}):
        assert doc["status"] == 413 and doc["error"] == "PayloadTooLargeError"


@pytest.mark.parametrize("name,i", [(a, i) for a in APPS for i in range(len(SPECS[a]["bad_params"]))])
def test_api_bad_upload_options(name, i, examples, app):
    data, suffix, _ = examples(name)
    _good_then_bad(app, name, examples, Broken(data, f"example{suffix}"), SPECS[name]["bad_params"][i])


@pytest.mark.parametrize("name", list(APPS))
def test_api_bad_entity_body(name, client):
    path, _ = SPECS[name]["create"]
    r = client.post(f"/{name}{path}", json=SPECS[name]["bad_body"])
    assert r.status_code == 400 and r.get_json()["status"] == 400, r.get_json()
    assert client.get(f"/{name}{path}").get_json() == {"entities": []}


def test_veg_cover_web_refuses_images_it_cannot_hold(examples, app, monkeypatch):
    """Above MEMORY_PIXELS the cover map is not held in memory: the web path refuses up front (was a 500)."""
    import edgeinv.apps.veg_cover.app as veg

    data, suffix, _ = examples("veg-cover")
    arm = lambda: monkeypatch.setattr(veg, "MEMORY_PIXELS", 256 * 256 - 1)  # noqa: E731 - after the good upload
    for doc in _good_then_bad(app, "veg-cover", examples, Broken(data, f"example{suffix}"), {}, arm):
        assert doc["status"] == 413 and "edgeinv veg-cover predict" in doc.get("hint", "")


def test_veg_cover_predict_out_streams_images_it_cannot_hold(examples, tmp_path, monkeypatch, capsys):
    """Above MEMORY_PIXELS ``predict --out`` streams the cover GeoTIFF while it predicts (the web refuses)."""
    import rasterio

    import edgeinv.apps.veg_cover.app as veg

    data, suffix, _ = examples("veg-cover")
    src = tmp_path / f"in{suffix}"
    src.write_bytes(data)
    runs = {}
    for name, limit in (("memory", veg.MEMORY_PIXELS), ("streamed", 256 * 256 - 1)):
        monkeypatch.setattr(veg, "MEMORY_PIXELS", limit)
        monkeypatch.setattr(veg, "SMALL_MAP_PIXELS", min(veg.SMALL_MAP_PIXELS, limit))
        out = tmp_path / name / "c.tif"
        assert main(["--json", "veg-cover", "predict", str(src), "--out", str(out)]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["outputs"]["cover_geotiff"] == str(out) and out.with_suffix(".png").is_file()
        with rasterio.open(out) as ds:
            runs[name] = (doc["fvc_mean"], ds.read(1))
    assert runs["memory"][0] == pytest.approx(runs["streamed"][0])
    np.testing.assert_allclose(runs["memory"][1], runs["streamed"][1], atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in" + suffix, "memory", "streamed"]  # nothing else written
