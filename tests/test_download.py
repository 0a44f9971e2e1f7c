"""Downloads against a loopback HTTP server serving archives built here: resume, truncation, checksums, extraction."""

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from dataclasses import replace

import pytest

from rsfm.data import download
from rsfm.data.registry import DATASETS, KINDS, DatasetSpec, RemoteFile, get_dataset
from rsfm.errors import ChecksumError, DataError, DownloadError, ManualDownloadRequired


class Server:
    """Serves ``files`` on 127.0.0.1 with Range support; switches simulate broken servers."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.ignore_range = False
        self.truncate_to: int | None = None  # send only this many bytes, then close
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append({"path": name, "range": self.headers.get("Range")})
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                ranged = self.headers.get("Range")
                if ranged and not server.ignore_range:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.truncate_to is not None:
                    payload = payload[: server.truncate_to]
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several chunks


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_and_verify(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    path = download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "a.bin.part").exists()
    # a second call verifies the existing file and fetches nothing
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert len(server.requests) == 1


def test_resume_sends_range_and_completes(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:300_000])
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                           progress=False)  # fmt: skip
    assert server.requests[0]["range"] == "bytes=300000-"
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    server.ignore_range = True
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:1000])
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_truncated_transfer_is_not_renamed_and_resumes_later(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    server.truncate_to = 123_456
    with pytest.raises(DownloadError, match="run again to resume"):
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", progress=False, retries=1)
    assert not (tmp_path / "a.bin").exists()
    assert 0 < (tmp_path / "a.bin.part").stat().st_size < len(PAYLOAD)
    server.truncate_to = None
    download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5=md5(PAYLOAD), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] is not None


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    server.files["a.bin"] = PAYLOAD
    with pytest.raises(ChecksumError, match=r"a\.bin: md5 .* expected 0+"):
        download.download_file(server.url("a.bin"), tmp_path / "a.bin", md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_reported(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.download_file(server.url("missing.zip"), tmp_path / "missing.zip", progress=False)


def _spec(server, files: dict[str, bytes], **overrides) -> DatasetSpec:
    base = get_dataset("loveda")
    remote = tuple(RemoteFile(name, server.url(name), size=len(data), md5=md5(data)) for name, data in files.items())
    return replace(base, name="toy", files=remote, layout=("Train/a.txt", "Val/b.txt"), **overrides)


def test_fetch_and_extract_two_archive_formats(server, tmp_path):
    server.files["Train.zip"] = make_zip({"Train/a.txt": b"a"})
    server.files["Val.tar.gz"] = make_tar({"Val/b.txt": b"b"})
    spec = _spec(server, server.files)
    paths = download.fetch_dataset(spec, tmp_path / "archives", progress=False)
    download.extract_archives(paths, tmp_path / "extracted")
    download.check_layout(spec, tmp_path / "extracted")
    assert (tmp_path / "extracted/Val/b.txt").read_bytes() == b"b"


def test_corrupt_archive_leaves_no_output(tmp_path):
    good = make_zip({"Train/a.txt": b"a" * 10_000})
    (tmp_path / "good.zip").write_bytes(good)
    (tmp_path / "bad.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"bad\.zip is corrupt or truncated"):
        download.extract_archives([tmp_path / "good.zip", tmp_path / "bad.zip"], tmp_path / "extracted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "good.zip"]


def test_path_traversal_is_refused(tmp_path):
    (tmp_path / "evil.zip").write_bytes(make_zip({"../escape.txt": b"x"}))
    with pytest.raises(DataError, match="outside the target folder"):
        download.extract_archives([tmp_path / "evil.zip"], tmp_path / "out" / "extracted")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "extracted").exists()


def test_unsupported_format_says_what_to_do(tmp_path):
    (tmp_path / "NWPU-RESISC45.rar").write_bytes(b"Rar!")
    with pytest.raises(DataError, match="extract it by hand"):
        download.extract_archives([tmp_path / "NWPU-RESISC45.rar"], tmp_path / "extracted")


def test_manual_dataset_names_folder_and_files_then_continues(tmp_path):
    spec = get_dataset("potsdam")
    archive_dir = tmp_path / "archives"
    with pytest.raises(ManualDownloadRequired) as info:
        download.fetch_dataset(spec, archive_dir)
    message = str(info.value)
    for remote in spec.files:
        assert str(archive_dir.resolve() / remote.name) in message
    assert spec.homepage in message and "run the same command again" in message
    for remote in spec.files:
        (archive_dir / remote.name).write_bytes(b"placed by hand")
    assert [p.name for p in download.fetch_dataset(spec, archive_dir)] == [f.name for f in spec.files]


def test_layout_check_lists_missing_paths(tmp_path):
    (tmp_path / "Train").mkdir()
    with pytest.raises(DataError, match=r"missing .*Train/Urban/masks_png"):
        download.check_layout(get_dataset("loveda"), tmp_path)


def test_registry_is_complete():
    expected = {
        "millionaid", "dota_v2", "dior_r", "potsdam", "loveda", "geobench_m_eurosat", "geobench_m_bigearthnet",
        "geobench_m_so2sat", "geobench_m_brick_kiln", "eurosat", "ucmerced", "aid", "resisc45",
    }  # fmt: skip
    assert set(DATASETS) == expected
    for spec in DATASETS.values():
        assert spec.kind in KINDS and spec.homepage.startswith("http") and spec.license and spec.layout
        assert spec.classes or spec.task == "pretraining", spec.name
        assert spec.manual or all(f.url for f in spec.files)
        assert not spec.manual or spec.manual_instructions
    assert len(get_dataset("geobench_m_bigearthnet").classes) == 43
    with pytest.raises(DataError, match="known datasets: millionaid"):
        get_dataset("dota_v3")
