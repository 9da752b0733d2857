"""Downloads against a local stand-in for the hub: resume, cancel, verification, errors, offline, install."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from models import download
from models.catalog import CatalogEntry, RemoteFile, load_catalog
from models.download import FileRequest, download_files
from models.errors import (
    AccessDeniedError,
    DownloadCancelled,
    HashMismatchError,
    NetworkError,
    NotEnoughDiskError,
    OfflineError,
    RemoteNotFoundError,
)
from models.hub import HubSettings
from models.install import InstallOptions, install
from models.store import ModelStore
from tests.hub_server import HubServer, git_blob_sha1
from tests.models.tiny_hf import write_tiny_checkpoint

BIG = bytes(range(256)) * 12_000  # 3 MB, an "LFS" file
SMALL = b'{"hello": "hub"}'
REPO = "someone/files"


@pytest.fixture(autouse=True)
def isolated_hf(monkeypatch, tmp_path):
    """No real token, cache or hub: HF_HOME is empty and HF_ENDPOINT points at nothing listening."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hub(monkeypatch):
    with HubServer({REPO: {"big.gguf": BIG, "config.json": SMALL}}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def requests_for(tmp_path: Path, *names: str, **kw) -> list[FileRequest]:
    return [FileRequest(REPO, n, tmp_path / "dl" / n, **kw) for n in names]


def test_files_arrive_verified_with_progress(hub, tmp_path):
    seen = []
    paths = download_files(requests_for(tmp_path, "big.gguf", "config.json"), on_progress=seen.append)
    assert [p.read_bytes() for p in paths] == [BIG, SMALL]
    downloads = [p for p in seen if p.stage == "download"]
    assert downloads[-1].done == downloads[-1].total == len(SMALL) and downloads[-1].index == 2
    big = [p for p in downloads if p.label == "big.gguf"]
    assert [p.done for p in big] == sorted(p.done for p in big) and big[-1].done == len(BIG)
    assert big[0].count == 2 and any(p.stage == "hash" for p in seen)
    assert not list((tmp_path / "dl").glob("*.part*"))
    before = len(hub.state.requests)
    download_files(requests_for(tmp_path, "big.gguf", "config.json"))  # already here: HEAD only
    assert {r.method for r in hub.state.requests[before:]} == {"HEAD"}


def test_a_dropped_connection_resumes_with_a_range_request(hub, tmp_path):
    hub.state.drop_after["big.gguf"] = 1_000_000
    (path,) = download_files(requests_for(tmp_path, "big.gguf"))
    assert path.read_bytes() == BIG
    gets = hub.gets("big.gguf")
    assert len(gets) == 2 and gets[1].headers.get("range") == "bytes=1000000-"


def test_cancel_keeps_the_part_and_the_next_attempt_resumes(hub, tmp_path):
    hub.state.delay_s = 0.01  # the transfer is still running when the first progress report comes
    cancel = threading.Event()

    def progress(p):
        if p.stage == "download":
            cancel.set()

    with pytest.raises(DownloadCancelled, match="resumes"):
        download_files(requests_for(tmp_path, "big.gguf"), on_progress=progress, cancel=cancel)
    part = tmp_path / "dl" / "big.gguf.part"
    kept = part.stat().st_size
    assert 0 < kept < len(BIG) and not (tmp_path / "dl" / "big.gguf").exists()
    hub.state.delay_s = 0
    (path,) = download_files(requests_for(tmp_path, "big.gguf"))
    assert path.read_bytes() == BIG
    assert hub.gets("big.gguf")[-1].headers.get("range") == f"bytes={kept}-"


def test_a_server_that_ignores_ranges_gets_a_clean_restart(hub, tmp_path):
    part = tmp_path / "dl" / "big.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BIG[:5000])
    (part.parent / "big.gguf.part.json").write_text(json.dumps({"etag": hashlib.sha256(BIG).hexdigest()}))
    hub.state.ignore_range = True
    (path,) = download_files(requests_for(tmp_path, "big.gguf"))
    assert path.read_bytes() == BIG


def test_a_part_of_an_older_version_is_not_resumed(hub, tmp_path):
    part = tmp_path / "dl" / "big.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"old content" * 1000)
    (part.parent / "big.gguf.part.json").write_text(json.dumps({"etag": "0" * 64}))
    (path,) = download_files(requests_for(tmp_path, "big.gguf"))
    assert path.read_bytes() == BIG and "range" not in hub.gets("big.gguf")[0].headers


def test_an_expired_cdn_link_is_renewed(hub, tmp_path):
    hub.state.cdn_denials = 1
    (path,) = download_files(requests_for(tmp_path, "big.gguf"))
    assert path.read_bytes() == BIG
    heads = [r for r in hub.state.requests if r.method == "HEAD"]
    assert len(heads) == 2  # the hub was asked again for a fresh link


def test_a_complete_file_without_a_record_is_checked_not_fetched(hub, tmp_path):
    dest = tmp_path / "dl" / "big.gguf"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(BIG)
    assert download_files(requests_for(tmp_path, "big.gguf"))[0].read_bytes() == BIG
    assert hub.gets("big.gguf") == []
    other = tmp_path / "dl2" / "big.gguf"
    other.parent.mkdir()
    other.write_bytes(bytes(len(BIG)))  # right size, wrong content
    assert download_files([FileRequest(REPO, "big.gguf", other)])[0].read_bytes() == BIG
    assert len(hub.gets("big.gguf")) == 1


def test_corrupted_transfer_is_deleted(hub, tmp_path):
    hub.state.corrupt = {"big.gguf", "config.json"}
    with pytest.raises(HashMismatchError, match="deleted"):
        download_files(requests_for(tmp_path, "big.gguf"))
    with pytest.raises(HashMismatchError):
        download_files(requests_for(tmp_path, "config.json"))  # git blob id check for small files
    assert list((tmp_path / "dl").iterdir()) == []


def test_catalog_hash_is_checked_before_downloading(hub, tmp_path):
    wrong = FileRequest(REPO, "big.gguf", tmp_path / "big.gguf", expected=RemoteFile("big.gguf", sha256="0" * 64))
    with pytest.raises(HashMismatchError, match="catalog expects"):
        download_files([wrong])
    wrong_size = FileRequest(REPO, "big.gguf", tmp_path / "big.gguf", expected=RemoteFile("big.gguf", size=5))
    with pytest.raises(HashMismatchError, match="repository changed"):
        download_files([wrong_size])
    assert hub.gets("big.gguf") == []
    right = FileRequest(
        REPO,
        "big.gguf",
        tmp_path / "big.gguf",
        expected=RemoteFile("big.gguf", len(BIG), hashlib.sha256(BIG).hexdigest()),
    )
    assert download_files([right])[0].read_bytes() == BIG


def test_missing_things_are_named(hub, tmp_path):
    with pytest.raises(RemoteNotFoundError, match="no file 'nope.gguf'"):
        download_files(requests_for(tmp_path, "nope.gguf"))
    with pytest.raises(RemoteNotFoundError, match="no revision 'v9'"):
        download_files(requests_for(tmp_path, "big.gguf", revision="v9"))
    with pytest.raises(RemoteNotFoundError, match="was not found.*private"):
        download_files([FileRequest("nobody/nothing", "x.gguf", tmp_path / "x.gguf")])
    assert download_files(requests_for(tmp_path, "nope.json", optional=True)) == []


def test_gated_repos_need_a_token(hub, tmp_path, monkeypatch):
    hub.state.gated[REPO] = "hf_secret"
    with pytest.raises(AccessDeniedError, match="gated.*hf auth login"):
        download_files(requests_for(tmp_path, "config.json"))
    with pytest.raises(AccessDeniedError, match="may lack access"):
        download_files(requests_for(tmp_path, "config.json"), HubSettings(token="hf_wrong"))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert download_files(requests_for(tmp_path, "config.json"))[0].read_bytes() == SMALL
    # The token is sent to the hub, never to the CDN the LFS file redirects to.
    download_files(requests_for(tmp_path, "big.gguf"))
    assert "authorization" not in hub.gets("big.gguf")[0].headers
    assert hub.state.requests[-1].method == "GET"


def test_the_saved_login_under_hf_home_is_used(hub, tmp_path, monkeypatch):
    hub.state.gated[REPO] = "hf_saved"
    home = tmp_path / "other-home"
    home.mkdir()
    (home / "token").write_text("hf_saved\n")
    monkeypatch.setenv("HF_HOME", str(home))
    assert download_files(requests_for(tmp_path, "config.json"))[0].read_bytes() == SMALL


def test_no_network_is_a_clear_error(tmp_path):
    with pytest.raises(NetworkError, match="Cannot reach http://127.0.0.1"):
        download_files(requests_for(tmp_path, "config.json"))


def test_not_enough_disk_is_found_before_any_byte_moves(hub, tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=len(BIG)))
    with pytest.raises(NotEnoughDiskError, match=r"3\.1 MB needed to download"):
        download_files(requests_for(tmp_path, "big.gguf"))
    assert hub.gets("big.gguf") == []


def test_a_full_disk_mid_download_keeps_the_part(hub, tmp_path, monkeypatch):
    real_open = open

    class Full:
        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, data):
            self.n += len(data)
            if self.n > 1_500_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(
        download,
        "open",
        lambda p, mode="r", *a, **k: (
            Full(real_open(p, mode, *a, **k))
            if "b" in mode and "a" in mode or mode == "wb"
            else real_open(p, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(NotEnoughDiskError, match="resumes"):
        download_files(requests_for(tmp_path, "big.gguf"))
    assert (tmp_path / "dl" / "big.gguf.part").stat().st_size > 0


def test_offline_mode_uses_what_is_on_disk(hub, tmp_path, monkeypatch):
    download_files(requests_for(tmp_path, "config.json"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.state.requests)
    assert download_files(requests_for(tmp_path, "config.json"))[0].read_bytes() == SMALL
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        download_files(requests_for(tmp_path, "big.gguf"))
    assert len(hub.state.requests) == before


def test_offline_mode_takes_files_from_the_hugging_face_cache(tmp_path, monkeypatch):
    """A file huggingface_hub cached before (HF_HOME/hub) is copied and checked against its blob id."""
    home = tmp_path / "hf-home"
    repo = home / "hub" / "models--someone--files"
    commit = "c" * 40
    blob = repo / "blobs" / git_blob_sha1(SMALL)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(SMALL)
    snapshot = repo / "snapshots" / commit / "config.json"
    snapshot.parent.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_files(requests_for(tmp_path, "config.json"))[0].read_bytes() == SMALL
    blob.write_bytes(b"tampered!")
    (tmp_path / "dl" / "config.json").unlink()
    (tmp_path / "dl" / ".downloads.json").unlink()
    with pytest.raises(HashMismatchError, match="cached copy"):
        download_files(requests_for(tmp_path, "config.json"))


def test_a_user_gguf_entry_installs_with_a_manifest(tiny_model, tmp_path, monkeypatch):
    files = {"q/tiny.gguf": tiny_model.text_path.read_bytes(), "tiny-mmproj.gguf": tiny_model.mmproj_path.read_bytes()}
    with HubServer({"me/tiny-gguf": files}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        entry = CatalogEntry(
            "tiny-gguf",
            "Tiny",
            "me/tiny-gguf",
            "gguf",
            "user-configured",
            model_file=RemoteFile("q/tiny.gguf"),
            mmproj_file=RemoteFile("tiny-mmproj.gguf"),
        )
        store = ModelStore(tmp_path / "models")
        model = install(entry, store)
    assert (model.name, model.text_path.name, model.quant) == ("tiny-gguf", "tiny.gguf", "F32")
    manifest = store.read_manifest(model.text_path.parent)
    assert manifest.source == "me/tiny-gguf@main"
    assert manifest.file("tiny.gguf").sha256 == hashlib.sha256(files["q/tiny.gguf"]).hexdigest()


def checkpoint_repo(tmp_path: Path) -> dict[str, bytes]:
    folder = write_tiny_checkpoint(tmp_path / "served", shards=2)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_livecc_checkpoint_downloads_converts_and_quantizes(tmp_path, monkeypatch):
    with HubServer({"chenjoya/LiveCC-7B-Instruct": checkpoint_repo(tmp_path)}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        store = ModelStore(tmp_path / "models")
        entry = load_catalog(store.root).find("livecc-7b-instruct")
        seen = []
        model = install(entry, store, InstallOptions(quant="Q8_0"), on_progress=seen.append)
        assert (model.name, model.quant) == ("livecc-7b-instruct", "Q8_0")
        assert model.text_path.name == "LiveCC-7B-Instruct-Q8_0.gguf"
        assert {"download", "convert", "quantize", "hash"} <= {p.stage for p in seen}
        assert store.read_manifest(model.text_path.parent).source == "chenjoya/LiveCC-7B-Instruct@main (converted)"
        (checkpoint,) = store.checkpoints()
        assert checkpoint.repo_id == "chenjoya/LiveCC-7B-Instruct"
        before = len(server.state.requests)
        assert install(entry, store, InstallOptions(quant="Q8_0")) == model  # nothing to do
        assert len(server.state.requests) == before
        model2 = install(entry, store, InstallOptions(quant="Q4_K_M", keep_checkpoint=False))
        assert sorted(m.name for m in store.installed()) == ["livecc-7b-instruct:Q4_K_M", "livecc-7b-instruct:Q8_0"]
        assert model2.mmproj_path == model.mmproj_path and store.checkpoints() == []
        assert {r.method for r in server.state.requests[before:]} == {"HEAD"}  # shards were already here


def test_the_disk_check_counts_the_conversion(tmp_path, monkeypatch):
    files = checkpoint_repo(tmp_path)
    shards = sum(len(d) for n, d in files.items() if n.endswith(".safetensors"))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=shards + (64 << 20) + 100))
    with HubServer({"chenjoya/LiveCC-7B-Base": files}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        store = ModelStore(tmp_path / "models")
        with pytest.raises(NotEnoughDiskError, match="to download and convert"):
            install(load_catalog(store.root).find("livecc-7b-base"), store)
        assert not any(r.path.endswith(".safetensors") for r in server.state.requests if r.method == "GET")
