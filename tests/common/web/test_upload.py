"""Upload filenames keep the user's characters (issue 11, bug 6)."""

from __future__ import annotations

import io

import pytest

from edgeinv.common.web.upload import MAX_NAME_CHARS, clean_filename


@pytest.mark.parametrize("raw, shown", [
    ("pump@site2.csv", "pump@site2.csv"),
    ("Feld Nord #3 (2026-05-01).csv", "Feld Nord #3 (2026-05-01).csv"),
    ("Weizen_Düngung_é.csv", "Weizen_Düngung_é.csv"),
    ("../../etc/level.txt", "level.txt"),
    ("C:\\\\data\\\\rec@48k.wav", "rec@48k.wav"),
    ("..", "upload"),
    (".hidden.csv", "hidden.csv"),
    ("a\x00b\nc.csv", "abc.csv"),
])
def test_clean_filename_keeps_characters(raw, shown):
    assert clean_filename(raw) == shown


def test_long_name_keeps_extension():
    name = clean_filename("x" * 500 + ".wav")
    assert len(name) == MAX_NAME_CHARS and name.endswith("….wav")


def test_uploaded_name_with_at_sign_is_stored_and_shown_whole(web_client):
    r = web_client.post("/mini-app/upload", data={"file": (io.BytesIO(b"4.5"), "pump@site2.txt")},
                        content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["filename"] == "pump@site2.txt"
    r = web_client.post("/mini-app/upload", data=b"2.0", content_type="application/octet-stream",
                        headers={"X-Filename": "gw@pump 7.txt"})
    assert r.get_json()["filename"] == "gw@pump 7.txt"
