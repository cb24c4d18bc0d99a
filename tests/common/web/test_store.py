"""The shared SQLite result store: CRUD, ordering, transactions that roll back, concurrent writers."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import numpy as np
import pytest

from edgeinv.common.errors import ConfigError, InvalidInputError, NotFoundError
from edgeinv.common.web.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "sub" / "edgeinv.sqlite3")
    yield s
    s.close()


def test_schema_wal_foreign_keys_and_version(store):
    conn = store._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert store.schema_version == SCHEMA_VERSION
    assert store.ping()


def test_entities_roundtrip(store):
    eid = store.add_entity("bearing-wear", "machine", " Pump 3 ", {"preset": "6205", "rpm": np.float32(1797.0)})
    e = store.get_entity(eid)
    assert e["id"] == eid and e["app"] == "bearing-wear" and e["kind"] == "machine" and e["name"] == "Pump 3"
    assert e["data"] == {"preset": "6205", "rpm": 1797.0}
    assert dt.datetime.fromisoformat(e["created"]).tzinfo is not None
    other = store.add_entity("bearing-wear", "machine", "Fan", {})
    store.add_entity("leaf-nitrogen", "field", "North", {})
    assert [x["id"] for x in store.list_entities("bearing-wear", "machine")] == [eid, other]
    assert [x["name"] for x in store.list_entities("leaf-nitrogen")] == ["North"]
    updated = store.update_entity(eid, {"preset": "6203"}, name="Pump 3b")
    assert updated["data"] == {"preset": "6203"} and updated["name"] == "Pump 3b"
    assert store.get_entity(eid)["data"] == {"preset": "6203"}


def test_not_found_and_wrong_app(store):
    eid = store.add_entity("a", "machine", "m", {})
    with pytest.raises(NotFoundError):
        store.get_entity(eid + 100)
    with pytest.raises(NotFoundError):
        store.get_entity(eid, app="b")  # another app's entity is not visible through this one
    with pytest.raises(NotFoundError):
        store.get_entity("not-an-id")
    with pytest.raises(NotFoundError):
        store.update_entity(eid + 100, {})
    with pytest.raises(NotFoundError):
        store.get_result(1)
    with pytest.raises(NotFoundError):
        store.get_blob(1, "plot")
    with pytest.raises(NotFoundError):
        store.add_result("b", eid, {})  # entity belongs to app "a"
    with pytest.raises(InvalidInputError):
        store.add_entity("a", "machine", "   ", {})
    with pytest.raises(InvalidInputError):
        store.add_entity("a", "machine", "m", ["not", "a", "dict"])


def test_results_blobs_and_order(store):
    eid = store.add_entity("app", "machine", "m", {})
    r_late = store.add_result("app", eid, {"x": 1, "bad": float("nan")}, {"plot": ("image/svg+xml", "<svg/>")},
                              created="2026-05-02T10:00:00+00:00")
    r_early = store.add_result("app", eid, {"x": 0, "filename": "rec.wav"},
                               created=dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.timezone.utc))
    r_none = store.add_result("app", None, {"x": 2})
    res = store.get_result(r_late)
    assert res["summary"] == {"x": 1, "bad": None}  # NaN stored as null, JSON stays valid
    assert res["entity_id"] == eid and res["entity_name"] == "m" and res["blobs"] == {"plot": "image/svg+xml"}
    assert store.get_blob(r_late, "plot") == ("image/svg+xml", b"<svg/>")
    assert [r["id"] for r in store.list_results("app", eid)] == [r_early, r_late]  # oldest first
    assert store.get_result(r_early)["name"] == "rec.wav"
    assert [r["id"] for r in store.list_results("app")] == [r_early, r_late, r_none]
    assert [r["id"] for r in store.list_results("app", eid, limit=1)] == [r_late]
    assert store.list_results("other") == []
    with pytest.raises(NotFoundError):
        store.get_result(r_late, app="other")
    with pytest.raises(InvalidInputError):
        store.add_result("app", eid, {}, {"plot": "not a pair"})
    with pytest.raises(InvalidInputError):
        store.add_result("app", eid, {}, created="yesterday")


def test_delete_entity_cascades(store):
    eid = store.add_entity("app", "machine", "m", {})
    rid = store.add_result("app", eid, {"x": 1}, {"raw": ("application/octet-stream", b"\x00\x01")})
    keep = store.add_entity("app", "machine", "other", {})
    kept_result = store.add_result("app", keep, {"x": 2})
    store.delete_entity(eid)
    with pytest.raises(NotFoundError):
        store.get_result(rid)
    with pytest.raises(NotFoundError):
        store.get_blob(rid, "raw")
    assert store._read("SELECT count(*) FROM blobs")[0][0] == 0
    assert store.get_result(kept_result)["summary"] == {"x": 2}
    with pytest.raises(NotFoundError):
        store.delete_entity(eid)


def test_failed_write_keeps_old_rows(store):
    eid = store.add_entity("app", "machine", "m", {"v": 1})
    old = store.add_result("app", eid, {"x": 1}, {"a": ("text/plain", b"a")})
    conn = store._connect()
    # make the second blob insert fail inside the transaction, after the result row was written
    conn.execute("CREATE TRIGGER no_boom BEFORE INSERT ON blobs WHEN NEW.name = 'boom' "
                 "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    conn.execute("CREATE TRIGGER no_bad BEFORE UPDATE ON entities WHEN NEW.data LIKE '%bad%' "
                 "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_result("app", eid, {"x": 2}, {"ok": ("text/plain", b"ok"), "boom": ("text/plain", b"!")})
    with pytest.raises(sqlite3.IntegrityError):
        store.update_entity(eid, {"v": "bad"})
    assert [r["id"] for r in store.list_results("app", eid)] == [old]  # no half-written result
    assert store._read("SELECT count(*) FROM blobs")[0][0] == 1
    assert store.get_entity(eid)["data"] == {"v": 1}
    # and the store keeps working afterwards
    assert store.add_result("app", eid, {"x": 3}) > old


def test_concurrent_writers_and_readers(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    eid = store.add_entity("app", "machine", "m", {})
    n_threads, per_thread = 6, 20
    ids, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(n_threads + 1)

    def writer(k):
        start.wait()
        try:
            for i in range(per_thread):
                rid = store.add_result("app", eid, {"thread": k, "i": i}, {"b": ("text/plain", f"{k}-{i}".encode())})
                with lock:
                    ids.append(rid)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def reader():
        start.wait()
        try:
            for _ in range(per_thread):
                store.list_results("app", eid, limit=5)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads - 1)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == (n_threads - 1) * per_thread
    results = store.list_results("app", eid)
    assert len(results) == (n_threads - 1) * per_thread
    assert {(r["summary"]["thread"], r["summary"]["i"]) for r in results} == {
        (k, i) for k in range(n_threads - 1) for i in range(per_thread)}
    store.close()


def test_reopen_keeps_data_and_refuses_newer_schema(tmp_path):
    path = tmp_path / "db.sqlite3"
    s1 = Store(path)
    eid = s1.add_entity("app", "field", "f", {"crop": "wheat"})
    s1.close()
    s2 = Store(path)
    assert s2.get_entity(eid)["data"] == {"crop": "wheat"}
    s2._connect().execute("PRAGMA user_version = 99")
    s2.close()
    with pytest.raises(ConfigError, match="newer"):
        Store(path).list_entities("app")
