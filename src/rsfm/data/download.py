"""Downloads that resume, verify and never leave a half-written file or folder in place.

- A transfer goes to ``<dest>.part``; an interrupted one resumes with an HTTP ``Range`` request (a server that answers
  200 instead of 206 restarts it from zero). Only a file whose size and checksum match is renamed to ``<dest>``.
- Archives are extracted into a temporary sibling folder that is renamed into place only when every archive has been
  read completely, so a corrupt or truncated archive leaves nothing behind.
- Hosts that need registration raise ManualDownloadRequired with the exact folder and file names to provide.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from rsfm.data.registry import DatasetSpec, RemoteFile
from rsfm.errors import ChecksumError, DataError, DownloadError, ManualDownloadRequired
from rsfm.io import atomic_dir

log = logging.getLogger(__name__)
USER_AGENT = "rsfm-data/0.1 (+reproduction pipeline)"


def file_digest(path: str | Path, algorithm: str, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    path: str | Path, *, size: int | None = None, md5: str | None = None, sha256: str | None = None
) -> None:
    """Raise ChecksumError naming the file, what was expected and what was found."""
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(
            f"{path.name}: size {actual_size:,} bytes, expected {size:,}; the file is incomplete or a different "
            f"release: delete {path} and run again to download it anew"
        )
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected:
            actual = file_digest(path, algorithm)
            if actual.lower() != expected.lower():
                raise ChecksumError(
                    f"{path.name}: {algorithm} {actual}, expected {expected}; the file is corrupt or a different "
                    f"release: delete {path} and run again to download it anew"
                )


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _transfer(url: str, part: Path, *, progress: bool, chunk_size: int, timeout: float) -> int | None:
    """Append the rest of ``url`` to ``part``; returns the total size the server announced (None if unknown)."""
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # range not satisfiable: the .part already holds everything
            return start
        raise
    with response:
        if start and response.status != 206:  # the server ignored Range: start over
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        mode = "ab" if start else "wb"
        with (
            open(part, mode) as handle,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress,
                 leave=False) as bar,
        ):  # fmt: skip
            while chunk := response.read(chunk_size):
                handle.write(chunk)
                bar.update(len(chunk))
    return total


def download_file(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    retries: int = 3,
    timeout: float = 60,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, then rename it into place."""
    dest = Path(dest)
    if dest.exists():
        verify_file(dest, size=size, md5=md5, sha256=sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            total = _transfer(url, part, progress=progress, chunk_size=chunk_size, timeout=timeout)
            received = part.stat().st_size
            expected = size if size is not None else total
            if expected is not None and received < expected:
                raise DownloadError(f"{dest.name}: connection closed after {received:,} of {expected:,} bytes")
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError, DownloadError) as error:
            if isinstance(error, urllib.error.HTTPError) and error.code < 500:
                raise DownloadError(
                    f"{url}: HTTP {error.code} {error.reason}; check the url in the registry"
                ) from error
            if attempt == retries:
                raise DownloadError(
                    f"downloading {dest.name} from {url} failed after {retries + 1} attempts ({error}); the partial "
                    f"file {part} is kept: run again to resume"
                ) from error
            wait = 2**attempt
            log.warning("%s: %s; retrying in %s s (resuming)", dest.name, error, wait)
            time.sleep(wait)
    try:
        verify_file(part, size=size, md5=md5, sha256=sha256)
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        raise ChecksumError(str(error).replace(str(part), str(dest)).replace(part.name, dest.name)) from None
    part.replace(dest)
    return dest


def _manual_message(spec: DatasetSpec, archive_dir: Path, missing: list[RemoteFile]) -> str:
    names = "\n".join(f"    {archive_dir.resolve() / f.name}" for f in missing)
    return (
        f"{spec.title} ({spec.name}) cannot be downloaded by script.\n"
        f"  Where: {spec.homepage}\n  How: {spec.manual_instructions}\n"
        f"  Put these files here (exact names):\n{names}\n"
        f"  Then run the same command again: the files are verified and the workflow continues from there."
    )


def fetch_dataset(spec: DatasetSpec, archive_dir: str | Path, *, progress: bool = True) -> list[Path]:
    """Make every release file of ``spec`` present and verified in ``archive_dir``; returns their paths."""
    archive_dir = Path(archive_dir)
    archive_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in spec.files if not (archive_dir / f.name).is_file()]
    if spec.manual and missing:
        raise ManualDownloadRequired(_manual_message(spec, archive_dir, missing))
    paths = []
    for remote in spec.files:
        dest = archive_dir / remote.name
        if remote.url is None or dest.is_file():
            verify_file(dest, size=remote.size, md5=remote.md5, sha256=remote.sha256)
        else:
            log.info("downloading %s", remote.url)
            download_file(remote.url, dest, size=remote.size, md5=remote.md5, sha256=remote.sha256, progress=progress)
        paths.append(dest)
    return paths


def check_layout(spec: DatasetSpec, extracted: str | Path) -> None:
    """Raise DataError listing the layout paths of ``spec`` that ``extracted`` lacks."""
    extracted = Path(extracted)
    missing = [rel for rel in spec.layout if not (extracted / rel).exists()]
    if missing:
        raise DataError(
            f"{extracted} does not have the layout of {spec.title}: missing {', '.join(missing)}; expected "
            f"{', '.join(spec.layout)} (check that the right archives were extracted, or the `path:` of the dataset)"
        )


def _safe_member(root: Path, name: str) -> Path:
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"archive member {name!r} would be written outside the target folder; refusing to extract")
    return root / relative


def extract_archive(archive: str | Path, dest_dir: str | Path) -> None:
    """Extract one zip or tar archive into an existing folder, refusing members that escape it."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    _safe_member(dest_dir, member.filename)
                bad = zf.testzip()  # CRC of every member: catches corruption before anything is trusted
                if bad is not None:
                    raise DataError(f"{archive.name}: member {bad} is corrupt; delete {archive} and download it again")
                zf.extractall(dest_dir)
        elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    _safe_member(dest_dir, member.name)
                    if member.issym() or member.islnk():
                        target = PurePosixPath(member.name).parent / member.linkname
                        _safe_member(dest_dir, str(target) if not member.linkname.startswith("/") else member.linkname)
                tf.extractall(dest_dir, filter="data")
        else:
            raise DataError(
                f"{archive.name}: unsupported archive format; extract it by hand and set `source: extracted` with "
                f"`path:` pointing at the extracted folder"
            )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise DataError(
            f"{archive.name} is corrupt or truncated ({error}); delete {archive} and run again to download it anew"
        ) from error


def extract_archives(archives: Iterable[str | Path], dest: str | Path) -> Path:
    """Extract all ``archives`` into ``dest`` as one atomic step: ``dest`` appears only if all succeeded."""
    dest = Path(dest)
    with atomic_dir(dest) as tmp:
        for archive in archives:
            log.info("extracting %s", archive)
            extract_archive(archive, tmp)
    return dest
