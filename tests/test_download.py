"""Downloads against a loopback HTTP server serving archives built here: resume, truncation, checksums, extraction,
manual datasets and the registry. No network besides 127.0.0.1."""

import hashlib
import http.server
import io
import json
import os
import re
import stat
import tarfile
import threading
import zipfile
from dataclasses import replace

import pytest

from rsfm.data import download, pipeline
from rsfm.data.kinds import KINDS
from rsfm.data.registry import DATASETS, TASKS, RemoteFile, get_dataset
from rsfm.errors import ChecksumError, ConfigError, DataError, DownloadError, ManualDownloadRequired

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB: several 64 KiB chunks


class Server:
    """Serves ``files`` on 127.0.0.1 (ephemeral port) with Range support; switches simulate broken servers."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []  # one entry per request: path, Range header, status sent
        self.ignore_range = False  # answer 200 with the whole body even to a Range request
        self.truncate_to: int | None = None  # announce the full Content-Length, send only this many bytes, close
        self.fail_first = 0  # answer this many requests with 503 first
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                server.requests.append({"path": self.path, "range": self.headers.get("Range"), "status": status})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                name = self.path.lstrip("/")
                if server.fail_first > 0:
                    server.fail_first -= 1
                    return self.reply(503, {"Content-Length": "0"})
                if name not in server.files:
                    return self.reply(404, {"Content-Length": "0"})
                body, start, status, headers = server.files[name], 0, 200, {}
                ranged = self.headers.get("Range")
                if ranged and not server.ignore_range:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        return self.reply(416, {"Content-Range": f"bytes */{len(body)}", "Content-Length": "0"})
                    status, headers["Content-Range"] = 206, f"bytes {start}-{len(body) - 1}/{len(body)}"
                payload = body[start:]
                headers["Content-Length"] = str(len(payload))
                if server.truncate_to is not None:
                    payload = payload[: server.truncate_to]
                self.reply(status, headers, payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A tar.gz with regular files ``members`` and symlinks ``links`` (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- download_file --------------------------------------------------------------------------------------------------


def test_download_verifies_and_skips_a_verified_file(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    path = download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "a.bin.part").exists()
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert len(server.requests) == 1  # the second call verified the file and fetched nothing


def test_resume_sends_range_and_completes(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:300_000])
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", sha256=sha, size=len(PAYLOAD), progress=False)
    assert server.requests == [{"path": "/a.bin", "range": "bytes=300000-", "status": 206}]
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    server.ignore_range = True
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:1000])
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert server.requests[0]["range"] == "bytes=1000-" and server.requests[0]["status"] == 200
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_refetching(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert [r["status"] for r in server.requests] == [416]
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_truncated_transfer_is_not_renamed_and_resumes_later(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    server.truncate_to = 123_456
    with pytest.raises(DownloadError, match=r"a\.bin .*re-run to resume") as info:
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", progress=False, retries=1)
    assert not isinstance(info.value, ChecksumError)
    assert len(server.requests) == 2 and server.requests[1]["range"] == "bytes=123456-"  # the retry resumed
    assert not (tmp_path / "a.bin").exists()
    assert (tmp_path / "a.bin.part").stat().st_size == 2 * 123_456
    server.truncate_to = None
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_server_announcing_another_size_fails_before_downloading_it(server, tmp_path):
    server.files["a.bin"] = PAYLOAD[:5000]  # the host's file changed: the registry expects another size
    with pytest.raises(ChecksumError, match=r"a\.bin: the server announces 5,000 bytes, the registry expects"):
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", size=len(PAYLOAD), progress=False)
    assert list(tmp_path.iterdir()) == [] and len(server.requests) == 1  # not retried


def test_wrong_checksum_leaves_neither_file_nor_part(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    with pytest.raises(ChecksumError) as info:
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5="0" * 32, progress=False)
    message = str(info.value)
    assert "a.bin" in message and md5(PAYLOAD) in message and "expected " + "0" * 32 in message
    assert "re-run to download again" in message
    assert list(tmp_path.iterdir()) == []


def test_existing_file_with_wrong_checksum_is_reported(server, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"not it")
    with pytest.raises(ChecksumError, match=r"a\.bin: size 6 bytes, expected 7"):
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", size=7, progress=False)
    assert server.requests == []


def test_server_errors_are_retried_client_errors_are_not(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    server.fail_first = 2
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False, retries=2)
    assert [r["status"] for r in server.requests] == [503, 503, 200]
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.download_file(server.url("missing.zip"), tmp_path / "missing.zip", progress=False)
    assert [r["status"] for r in server.requests][3:] == [404]


# --- extraction -----------------------------------------------------------------------------------------------------


def test_fetch_and_extract_zip_and_tar_into_one_folder(server, tmp_path):
    server.files["Train.zip"] = make_zip({"Train/a.txt": b"a", "Train/sub/c.txt": b"c"})
    server.files["Val.tar.gz"] = make_tar({"Val/b.txt": b"b"}, links={"Val/link.txt": "b.txt"})
    files = tuple(RemoteFile(n, server.url(n), size=len(d), md5=md5(d)) for n, d in server.files.items())
    spec = replace(get_dataset("loveda"), name="toy", files=files, layout=("Train/a.txt", "Val/*.txt"))
    paths = download.fetch_dataset(spec, tmp_path / "archives", progress=False)
    assert [p.name for p in paths] == ["Train.zip", "Val.tar.gz"]
    assert download.extract_archives(paths, tmp_path / "extracted") == tmp_path / "extracted"
    download.check_layout(spec, tmp_path / "extracted")
    assert (tmp_path / "extracted/Train/sub/c.txt").read_bytes() == b"c"
    assert (tmp_path / "extracted/Val/link.txt").read_bytes() == b"b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archives", "extracted"]  # no temp folders left
    download.fetch_dataset(spec, tmp_path / "archives", progress=False)
    assert len(server.requests) == 2  # verified archives are not fetched again


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_corrupt_archive_leaves_no_output(tmp_path, kind):
    members = {"Train/a.bin": PAYLOAD}
    good = make_zip(members) if kind == "zip" else make_tar(members)
    (tmp_path / f"good.{kind}").write_bytes(good)
    (tmp_path / f"bad.{kind}").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=rf"bad\.{kind} is corrupt or truncated.*delete .* download it again"):
        download.extract_archives([tmp_path / f"good.{kind}", tmp_path / f"bad.{kind}"], tmp_path / "extracted")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"bad.{kind}", f"good.{kind}"]


def test_corrupt_member_data_is_caught(tmp_path):
    data = bytearray(make_zip({"a.bin": PAYLOAD}))
    data[100:110] = b"\0" * 10  # inside the compressed member: the central directory is intact
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or truncated"):
        download.extract_archives([tmp_path / "bad.zip"], tmp_path / "extracted")
    assert [p.name for p in tmp_path.iterdir()] == ["bad.zip"]


@pytest.mark.parametrize(
    "archive",
    [
        make_zip({"ok.txt": b"x", "../escape.txt": b"x"}),
        make_tar({"/abs/escape.txt": b"x"}),
        make_tar({"a/ok.txt": b"x"}, links={"a/evil": "../../escape.txt"}),
        make_tar({}, links={"evil": "/etc/passwd"}),
    ],
    ids=["zip-dotdot", "tar-absolute", "tar-symlink-out", "tar-symlink-absolute"],
)
def test_members_escaping_the_target_are_refused(tmp_path, archive):
    name = "evil.zip" if archive.startswith(b"PK") else "evil.tar.gz"
    (tmp_path / name).write_bytes(archive)
    with pytest.raises(DataError, match="outside the target folder"):
        download.extract_archives([tmp_path / name], tmp_path / "out" / "extracted")
    assert not (tmp_path / "escape.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_unsupported_format_says_where_to_extract_by_hand(tmp_path):
    (tmp_path / "NWPU-RESISC45.rar").write_bytes(b"Rar!")
    with pytest.raises(DataError, match=rf"extract it by hand .* into {re.escape(str(tmp_path / 'extracted'))}"):
        download.extract_archives([tmp_path / "NWPU-RESISC45.rar"], tmp_path / "extracted")
    assert [p.name for p in tmp_path.iterdir()] == ["NWPU-RESISC45.rar"]


# --- manual datasets and layout -------------------------------------------------------------------------------------


POTSDAM_DEFAULTS = {"imagery": "RGB", "labels": "eroded"}  # the schema's defaults


def test_manual_dataset_names_folder_and_files_then_continues(tmp_path):
    spec = get_dataset("potsdam", POTSDAM_DEFAULTS)
    archive_dir = tmp_path / "archives"
    with pytest.raises(ManualDownloadRequired) as info:
        download.fetch_dataset(spec, archive_dir)
    message = str(info.value)
    assert str(archive_dir.resolve()) in message and spec.homepage in message and "data request form" in message
    assert all(remote.name in message for remote in spec.files) and "run the same command again" in message
    (archive_dir / "2_Ortho_RGB.zip").write_bytes(b"placed by hand")
    with pytest.raises(ManualDownloadRequired, match=r"Already there: 2_Ortho_RGB\.zip") as info:
        download.fetch_dataset(spec, archive_dir)
    assert "    2_Ortho_RGB.zip" not in str(info.value)  # only what is missing is asked for
    for remote in spec.files:
        (archive_dir / remote.name).write_bytes(b"placed by hand")
    paths = download.fetch_dataset(spec, archive_dir)
    assert paths == [archive_dir.resolve() / remote.name for remote in spec.files]


def test_manual_file_with_wrong_checksum_points_to_the_source(tmp_path):
    spec = replace(get_dataset("aid"), files=(RemoteFile("AID.zip", md5=md5(b"official")),))
    (tmp_path / "AID.zip").write_bytes(b"something else")
    with pytest.raises(ChecksumError, match=r"(?s)AID\.zip: md5 .*expected .*captain-whu.*source: extracted"):
        download.fetch_dataset(spec, tmp_path)
    (tmp_path / "AID.zip").write_bytes(b"official")
    assert download.fetch_dataset(spec, tmp_path) == [tmp_path.resolve() / "AID.zip"]


def test_layout_check_lists_missing_paths_and_accepts_globs(tmp_path):
    (tmp_path / "Train").mkdir()
    with pytest.raises(DataError, match=r"missing .*Train/Urban/masks_png"):
        download.check_layout(get_dataset("loveda"), tmp_path)
    potsdam = get_dataset("potsdam", POTSDAM_DEFAULTS)
    (tmp_path / "2_Ortho_RGB").mkdir()
    (tmp_path / "2_Ortho_RGB/top_potsdam_2_10_RGB.tif").touch()
    (tmp_path / "top_potsdam_2_10_label.tif").touch()  # label zips are flat
    with pytest.raises(DataError, match=r"missing \*\*/top_potsdam_\*_label_noBoundary\.tif\b"):
        download.check_layout(potsdam, tmp_path)
    (tmp_path / "top_potsdam_2_10_label_noBoundary.tif").touch()
    download.check_layout(potsdam, tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        download.check_layout(potsdam, tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("settings", "needed"),
    [
        ({"imagery": "RGB", "labels": "eroded"}, ["2_Ortho_RGB.zip", "5_Labels_all_noBoundary.zip"]),
        ({"imagery": "RGB", "labels": "full"}, ["2_Ortho_RGB.zip", "5_Labels_all.zip"]),
        ({"imagery": "RGBIR", "labels": "eroded"}, ["4_Ortho_RGBIR.zip", "5_Labels_all_noBoundary.zip"]),
        ({"imagery": "IRRG", "labels": "full"}, ["3_Ortho_IRRG.zip", "5_Labels_all.zip"]),
    ],
)
def test_potsdam_asks_only_for_the_archives_its_settings_need(tmp_path, settings, needed):
    archive_dir = tmp_path / "archives"
    with pytest.raises(ManualDownloadRequired) as info:
        pipeline.download("potsdam", settings, archive_dir, tmp_path / "archives.json")
    asked = re.findall(r"^    (\S+\.zip)$", str(info.value), re.MULTILINE)
    assert asked == needed
    assert f"imagery: {settings['imagery']} and labels: {settings['labels']} these are {' and '.join(needed)}" in str(
        info.value
    )
    for name in needed:
        (archive_dir / name).write_bytes(b"placed by hand")
    pipeline.download("potsdam", settings, archive_dir, tmp_path / "archives.json")
    pipeline.verify("potsdam", settings, archive_dir, tmp_path / "verified.json")
    verified = json.loads((tmp_path / "verified.json").read_text())["verified"]
    assert [record["name"] for record in verified] == needed
    with pytest.raises(ConfigError, match=r"'data\.datasets\.potsdam\.imagery': 'NIR' is none of RGB, IRRG, RGBIR"):
        get_dataset("potsdam", {**settings, "imagery": "NIR"})


def _offline(monkeypatch):
    """Fail any download attempt: the checks below must decide from the files there, as on a compute node."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("name", ["loveda", "eurosat"])
def test_mismatching_release_files_are_all_named_with_both_ways_out(tmp_path, monkeypatch, name):
    _offline(monkeypatch)
    spec = get_dataset(name)
    folder = tmp_path / "archives"
    folder.mkdir()
    bad = spec.files[:2]  # LoveDA: Train.zip and Val.zip copied from elsewhere; Test.zip still to download
    for remote in bad:
        (folder / remote.name).write_bytes(make_zip({f"{remote.name[:-4]}/a.png": b"repacked"}))
    with pytest.raises(ChecksumError) as info:
        download.fetch_dataset(spec, folder, progress=False)
    message = str(info.value)
    for remote in bad:
        actual = md5((folder / remote.name).read_bytes())
        assert f"    {remote.name}: md5 {actual}, expected {remote.md5}" in message
        assert f"{remote.name}: {remote.url}" in message
        assert (folder / remote.name).is_file()  # nothing deleted behind the user's back
    assert f"{len(bad)} of its {len(spec.files)} release files in {folder.resolve()} do not match" in message
    assert "rm " + " ".join(str(folder.resolve() / remote.name) for remote in bad) in message
    assert "without network" in message
    assert f"`source: extracted` with `path:` to it for data.datasets.{name}" in message
    assert all(f"{remote.name}: {remote.url}" not in message for remote in spec.files[len(bad) :])


def test_verify_names_every_mismatching_file(tmp_path, monkeypatch):
    _offline(monkeypatch)
    spec = get_dataset("loveda")
    folder = tmp_path / "archives"
    folder.mkdir()
    for remote in spec.files:
        (folder / remote.name).write_bytes(make_zip({f"{remote.name[:-4]}/a.png": b"not the release"}))
    with pytest.raises(ChecksumError) as info:
        pipeline.verify("loveda", {}, folder, tmp_path / "verified.json")
    message = str(info.value)
    assert all(f"    {remote.name}: md5 " in message for remote in spec.files)
    assert "source: extracted" in message and "zenodo.org" in message
    assert not (tmp_path / "verified.json").exists()
    (folder / "Val.zip").unlink()
    (folder / "Test.zip").unlink()
    with pytest.raises(DataError, match=r"Val\.zip, Test\.zip missing from .*rerun the download rule for loveda"):
        pipeline.verify("loveda", {}, folder, tmp_path / "verified.json")


def test_downloads_that_do_not_match_are_all_named(server, tmp_path):
    server.files = {"Train.zip": make_zip({"Train/a.png": b"a"}), "Val.zip": make_zip({"Val/b.png": b"b"})}
    server.files["Test.zip"] = make_zip({"Test/c.png": b"c"})
    files = tuple(
        RemoteFile(n, server.url(n), md5="0" * 32 if n != "Test.zip" else md5(d)) for n, d in server.files.items()
    )
    spec = replace(get_dataset("loveda"), files=files)
    with pytest.raises(ChecksumError) as info:
        download.fetch_dataset(spec, tmp_path, progress=False)
    message = str(info.value)
    assert "2 of its 3 release files did not match the registry when downloaded and were deleted" in message
    for name in ("Train.zip", "Val.zip"):
        assert (
            f"{name} downloaded from {server.url(name)}: md5 {md5(server.files[name])}, expected {'0' * 32}" in message
        )
    assert "source: extracted" in message and "rm " not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Test.zip"]  # the good one is kept, the bad ones deleted
    assert sorted(r["path"] for r in server.requests) == ["/Test.zip", "/Train.zip", "/Val.zip"]


def test_extracted_release_is_readable_by_the_group(tmp_path):
    old = os.umask(0o002)
    try:
        (tmp_path / "Train.zip").write_bytes(make_zip({"Train/Urban/images_png/1.png": b"png"}))
        download.extract_archives([tmp_path / "Train.zip"], tmp_path / "extracted")
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(p.stat().st_mode))
             for p in [tmp_path / "extracted", *(tmp_path / "extracted").rglob("*")]}  # fmt: skip
    assert modes == {
        "extracted": "0o775", "extracted/Train": "0o775", "extracted/Train/Urban": "0o775",
        "extracted/Train/Urban/images_png": "0o775", "extracted/Train/Urban/images_png/1.png": "0o664",
    }  # fmt: skip


# --- registry -------------------------------------------------------------------------------------------------------


def test_registry_is_complete():
    expected = {
        "millionaid", "dota_v2", "dior_r", "potsdam", "loveda", "geobench_m_eurosat", "geobench_m_bigearthnet",
        "geobench_m_so2sat", "geobench_m_brick_kiln", "eurosat", "ucmerced", "aid", "resisc45",
    }  # fmt: skip
    assert set(DATASETS) == expected
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.task in TASKS and spec.kind in KINDS, name
        assert spec.homepage.startswith("http") and spec.license and spec.citation and spec.layout, name
        assert spec.classes or spec.task == "pretraining", name
        assert len(set(spec.classes)) == len(spec.classes), name
        assert spec.files and all(f.url or spec.manual for f in spec.files), name
        assert not spec.manual or spec.manual_instructions, name
        for remote in spec.files:
            assert remote.md5 is None or len(remote.md5) == 32, name
            assert remote.sha256 is None or len(remote.sha256) == 64, name
            assert remote.url is None or remote.url.startswith("https://"), name
    sizes = {name: len(get_dataset(name).classes) for name in ("eurosat", "ucmerced", "aid", "resisc45", "loveda")}
    assert sizes == {"eurosat": 10, "ucmerced": 21, "aid": 30, "resisc45": 45, "loveda": 7}
    geobench = {
        t: len(get_dataset(f"geobench_m_{t}").classes) for t in ("eurosat", "bigearthnet", "so2sat", "brick_kiln")
    }
    assert geobench == {"eurosat": 10, "bigearthnet": 43, "so2sat": 17, "brick_kiln": 2}
    with pytest.raises(DataError, match="known datasets: millionaid, dota_v2"):
        get_dataset("dota_v3")
