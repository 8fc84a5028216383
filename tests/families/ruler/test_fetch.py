"""RULER's QA files online: fetched once from a (local, 127.0.0.1) server, sha256-verified, cached, recorded."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from evalsuite.errors import DataError
from evalsuite.families.ruler import fetch, qa

BODY = json.dumps({"version": "v2.0", "data": []}).encode()


@pytest.fixture()
def server(tmp_path):
    """A file server on 127.0.0.1 that counts its requests (never the network)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "dev-v2.0.json").write_bytes(BODY)
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):  # keep the test output clean
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def online(monkeypatch, tmp_path):
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "EVALSUITE_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path / "cache"))


def test_fetched_once_verified_cached_and_recorded(server, online, monkeypatch, tmp_path):
    base, hits = server
    monkeypatch.setitem(fetch.URLS, "qa_squad", f"{base}/dev-v2.0.json")
    monkeypatch.setitem(qa.SHA256, "qa_squad", hashlib.sha256(BODY).hexdigest())  # this server's file is "official"
    got = fetch.qa_file("qa_squad", tmp_path / "data")  # a data folder without squad/
    assert got == tmp_path / "cache" / "squad" / "dev-v2.0.json" and got.read_bytes() == BODY
    source = json.loads((got.parent / "dev-v2.0.json.source.json").read_text())
    assert source["url"].endswith("/dev-v2.0.json") and source["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert fetch.qa_file("qa_squad", tmp_path / "data") == got and len(hits) == 1  # cached: not fetched again

    from evalsuite.run.provenance import data_files

    (tmp_path / "data").mkdir()
    assert data_files("ruler_es_qa_squad", tmp_path / "data") == {"cache:squad/dev-v2.0.json": source["sha256"]}


def test_a_file_with_the_wrong_sha256_is_refused_and_not_cached(server, online, monkeypatch, tmp_path):
    base, _ = server
    monkeypatch.setitem(fetch.URLS, "qa_squad", f"{base}/dev-v2.0.json")  # the real official sha256 stays
    with pytest.raises(DataError, match=r"qa_squad: .* gave sha256 [0-9a-f]{64}, not the official dev-v2.0.json"):
        fetch.qa_file("qa_squad", None)
    assert not any((tmp_path / "cache").rglob("*.json"))


def test_the_data_folders_file_wins_and_offline_uncached_is_none(online, monkeypatch, tmp_path):
    local = tmp_path / "data" / "squad" / "dev-v2.0.json"
    local.parent.mkdir(parents=True)
    local.write_bytes(BODY)
    assert fetch.qa_file("qa_squad", tmp_path / "data") == local
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert fetch.qa_file("qa_hotpot", tmp_path / "data") is None  # offline: never a download


def test_an_unreachable_source_is_one_line_naming_the_fix(online, monkeypatch):
    monkeypatch.setitem(fetch.URLS, "qa_hotpot", "http://127.0.0.1:9/nothing-listens-here.json")
    with pytest.raises(DataError, match="qa_hotpot: could not fetch .* put hotpot_dev_distractor_v1.json in the data"):
        fetch.qa_file("qa_hotpot", None)
