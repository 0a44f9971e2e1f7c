"""Downloads that resume, verify and never leave a half-written file or folder in place.

- A transfer goes to ``<dest>.part``; an interrupted one resumes with an HTTP ``Range`` request (a server that answers
  200 instead of 206 restarts it from zero). Only a file whose size and checksum match is renamed to ``<dest>``.
- Archives are extracted into one temporary sibling folder that is renamed into place only when every archive has been
  read completely, so a corrupt or truncated archive, or a member that would escape the folder, leaves nothing behind.
- Hosts that need registration raise ManualDownloadRequired with the exact folder and file names to provide.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import lzma
import posixpath
import re
import shlex
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from rsfm.data.registry import DatasetSpec, RemoteFile
from rsfm.errors import ChecksumError, DataError, DownloadError, ManualDownloadRequired
from rsfm.io import atomic_dir

log = logging.getLogger(__name__)
USER_AGENT = "rsfm-data/0.1 (+reproduction pipeline)"
RETRY_BACKOFF_S = 2.0  # first wait between attempts; doubles each time (tests set it to 0)
_RETRY_HTTP = {408, 425, 429}  # client-side codes that mean "try again later"; 5xx are retried too
_ZIP = (".zip",)
_TAR = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


# --- verification ---------------------------------------------------------------------------------------------------


def file_digest(path: str | Path, algorithm: str, chunk_size: int = 1 << 22) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: Path, size: int | None, md5: str | None, sha256: str | None) -> str | None:
    """What differs from the expectation ("size 10 bytes, expected 12"), or None when everything matches."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size {actual_size:,} bytes, expected {size:,}"
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected and (actual := file_digest(path, algorithm)) != expected.lower():
            return f"{algorithm} {actual}, expected {expected.lower()}"
    return None


def verify_file(
    path: str | Path, *, size: int | None = None, md5: str | None = None, sha256: str | None = None
) -> None:
    """Stream-hash ``path``; raise ChecksumError naming the file, what was expected and what was found."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: run the download step for its dataset again")
    if problem := _mismatch(path, size, md5, sha256):
        raise ChecksumError(
            f"{path.name}: {problem}; the file is incomplete, corrupt or a different release: delete {path} and "
            f"re-run to download it again, or extract a copy yourself and set `source: extracted` with `path:` for "
            "its dataset"
        )


# --- download -------------------------------------------------------------------------------------------------------


def _transfer(url: str, part: Path, *, size: int | None, progress: bool, chunk_size: int, timeout: float) -> int | None:
    """Append the rest of ``url`` to ``part``; returns the total size the server announced (None if unknown).

    Raises ChecksumError before reading the body when the announced size differs from ``size`` (the registry's).
    """
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # range not satisfiable: the .part already holds the whole file, or more
            total = (error.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) != start:
                part.unlink()  # longer than the file: garbage, start over on the next attempt
                raise DownloadError(f"{part.name} is longer than the file on the server; restarting") from error
            return start
        raise
    with response:
        total = None
        if start and response.status == 206:  # Content-Range: bytes START-END/TOTAL
            match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", "").strip())
            if match and int(match.group(1)) != start:
                part.unlink()
                raise DownloadError(f"the server resumed {part.name} at the wrong offset; restarting")
            total = int(match.group(2)) if match and match.group(2) != "*" else None
        elif start:  # the server ignored Range (200): start over
            start = 0
        if total is None and (length := response.headers.get("Content-Length")) is not None:
            total = start + int(length)
        if size is not None and total is not None and total != size:  # the host serves another file: fail now
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{part.name.removesuffix('.part')}: the server announces {total:,} bytes, the registry expects "
                f"{size:,}; the release at {url} changed or the url is wrong: check the registry entry"
            )
        show = progress and sys.stderr.isatty()  # no carriage-return noise in Snakemake log files
        with (
            open(part, "ab" if start else "wb") as handle,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"),
                 disable=not show, leave=False) as bar,
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
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, then rename it into place.

    An existing ``dest`` is verified and returned. A transfer that ends early is retried (resuming) ``retries`` times,
    then raises DownloadError and keeps the ``.part`` for the next run; a size or checksum mismatch deletes the
    ``.part`` and raises ChecksumError.
    """
    dest = Path(dest)
    if dest.exists():
        verify_file(dest, size=size, md5=md5, sha256=sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s", url, dest)
    for attempt in range(retries + 1):
        try:
            total = _transfer(url, part, size=size, progress=progress, chunk_size=chunk_size, timeout=timeout)
            received = part.stat().st_size
            expected = size if size is not None else total
            if expected is not None and received < expected:  # connection closed early: keep .part, resume
                raise DownloadError(f"connection closed after {received:,} of {expected:,} bytes")
            break
        except (urllib.error.URLError, http.client.HTTPException, OSError, DownloadError) as error:
            if isinstance(error, ChecksumError):
                raise
            if isinstance(error, urllib.error.HTTPError) and error.code < 500 and error.code not in _RETRY_HTTP:
                raise DownloadError(
                    f"{url}: HTTP {error.code} {error.reason}; the file is not available there: check the registry "
                    f"entry or the dataset's homepage"
                ) from error
            if attempt == retries:
                kept = f"the partial file {part} is kept: re-run to resume" if part.exists() else "re-run to retry"
                raise DownloadError(
                    f"downloading {dest.name} from {url} failed after {retries + 1} attempts ({error}); {kept}"
                ) from error
            wait = RETRY_BACKOFF_S * 2**attempt
            log.warning("%s: %s; retrying in %.0f s (resuming)", dest.name, error, wait)
            time.sleep(wait)
    if problem := _mismatch(part, size, md5, sha256):
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{dest.name} downloaded from {url}: {problem}; the download was deleted: re-run to download again "
            f"(if this repeats, the host's file differs from the registry entry)"
        )
    part.replace(dest)
    log.info("downloaded and verified %s (%s bytes)", dest, f"{dest.stat().st_size:,}")
    return dest


# --- datasets -------------------------------------------------------------------------------------------------------


def _manual_message(spec: DatasetSpec, folder: Path, missing: list[RemoteFile], present: list[RemoteFile]) -> str:
    names = "\n".join(f"    {f.name}" for f in missing)
    have = f"  Already there: {', '.join(f.name for f in present)}\n" if present else ""
    return (
        f"{spec.title} ({spec.name}) cannot be downloaded by script: its host needs registration or a browser.\n"
        f"  Where: {spec.homepage}\n"
        f"  How: {spec.manual_instructions}\n"
        f"  Put these files (exact names) into {folder}:\n{names}\n"
        f"  (full paths: {', '.join(str(folder / f.name) for f in missing)})\n{have}"
        f"  Then run the same command again: the files are verified and the workflow continues from there. If you "
        f"already have the release extracted, set `source: extracted` and `path:` for {spec.name} instead."
    )


def _mismatches(spec: DatasetSpec, folder: Path) -> list[tuple[RemoteFile, str]]:
    """Every release file of ``spec`` present in ``folder`` that differs from the registry, with what differs."""
    return [
        (remote, problem)
        for remote in spec.files
        if (folder / remote.name).is_file()
        and (problem := _mismatch(folder / remote.name, remote.size, remote.md5, remote.sha256))
    ]


def _ways_out(spec: DatasetSpec, folder: Path, files: list[RemoteFile], *, deleted: bool) -> str:
    """Both ways past release files that do not match: the official files again, or one's own extracted copy."""
    if spec.manual:
        again = (
            f"download them again from {spec.homepage} (see `rsfm datasets --show {spec.name}`), put them at the "
            f"same paths in {folder} and run the same command again"
        )
    else:
        paths = " ".join(shlex.quote(str(folder / f.name)) for f in files)
        delete = "" if deleted else f"delete them (rm {paths}) and "
        urls = "".join(f"\n       {f.name}: {f.url}" for f in files)
        again = (
            f"{delete}run the same command again, which downloads them from:{urls}\n     On a node without network, "
            f"download them on a machine that has it and put them at the same paths in {folder} instead: files "
            "already there are verified, not downloaded"
        )
    return (
        "  Two ways out:\n"
        f"  1. Fetch the official files again: {again}.\n"
        "  2. Or use a copy you extracted yourself (a repacked or mirrored archive never matches the official "
        f"checksums): unpack the release into a folder and set `source: extracted` with `path:` to it for "
        f"data.datasets.{spec.name}; it is then read from there, not downloaded or checked against the registry."
    )


def _mismatch_error(
    spec: DatasetSpec, folder: Path, bad: list[tuple[RemoteFile, str]], missing: list[RemoteFile]
) -> ChecksumError:
    listed = "".join(f"\n    {remote.name}: {problem}" for remote, problem in bad)
    also = f"\n  Also missing: {', '.join(f.name for f in missing)}" if missing else ""
    return ChecksumError(
        f"{spec.title} ({spec.name}): {len(bad)} of its {len(spec.files)} release files in {folder} do not match "
        f"the registry (incomplete, corrupt or another release):{listed}{also}\n"
        + _ways_out(spec, folder, [remote for remote, _ in bad], deleted=False)
    )


def fetch_dataset(spec: DatasetSpec, archive_dir: str | Path, *, progress: bool = True) -> list[Path]:
    """Make every release file of ``spec`` present and verified in ``archive_dir``; returns their paths.

    Every file already there is checked first, and all that differ from the registry are named in one ChecksumError
    (nothing is deleted or downloaded then). Automatic specs then download what is missing; manual specs raise
    ManualDownloadRequired saying where to get the files and where to put them, until every file is there.
    """
    folder = Path(archive_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f for f in spec.files if not (folder / f.name).is_file()]
    if bad := _mismatches(spec, folder):
        raise _mismatch_error(spec, folder, bad, missing if spec.manual else [])
    if spec.manual and missing:
        present = [f for f in spec.files if f not in missing]
        raise ManualDownloadRequired(_manual_message(spec, folder, missing, present))
    failed: list[tuple[RemoteFile, ChecksumError]] = []
    for remote in missing:
        assert remote.url is not None  # DatasetSpec guarantees a url for every file of an automatic spec
        try:
            download_file(remote.url, folder / remote.name, size=remote.size, md5=remote.md5, sha256=remote.sha256,
                          progress=progress)  # fmt: skip
        except ChecksumError as error:  # go on: the other files may be fine, and every problem is named at once
            failed.append((remote, error))
    if failed:
        listed = "".join(f"\n    {error}" for _, error in failed)
        raise ChecksumError(
            f"{spec.title} ({spec.name}): {len(failed)} of its {len(spec.files)} release files did not match the "
            f"registry when downloaded and were deleted (if this repeats, the host's files differ from the registry "
            f"entry):{listed}\n" + _ways_out(spec, folder, [remote for remote, _ in failed], deleted=True)
        )
    return [folder / remote.name for remote in spec.files]


def check_release(spec: DatasetSpec, archive_dir: str | Path) -> list[Path]:
    """Re-check every release file of ``spec`` in ``archive_dir``: one DataError naming all missing files, or one
    ChecksumError naming all that differ from the registry. Returns their paths."""
    folder = Path(archive_dir).resolve()
    missing = [f for f in spec.files if not (folder / f.name).is_file()]
    if missing:
        raise DataError(
            f"{spec.title} ({spec.name}): {', '.join(f.name for f in missing)} missing from {folder}: rerun the "
            f"download rule for {spec.name} (e.g. `snakemake --forcerun download`)"
        )
    if bad := _mismatches(spec, folder):
        raise _mismatch_error(spec, folder, bad, [])
    return [folder / remote.name for remote in spec.files]


def check_layout(spec: DatasetSpec, extracted_dir: str | Path) -> None:
    """Raise DataError listing the layout paths of ``spec`` (glob patterns allowed) that ``extracted_dir`` lacks."""
    root = Path(extracted_dir)
    if not root.is_dir():
        raise DataError(f"{root} does not exist: extract {spec.title} there, or fix the `path:` of {spec.name}")

    def present(rel: str) -> bool:
        return next(root.glob(rel), None) is not None if any(c in rel for c in "*?[") else (root / rel).exists()

    missing = [rel for rel in spec.layout if not present(rel)]
    if missing:
        raise DataError(
            f"{root} does not have the layout of {spec.title}: missing {', '.join(missing)} (expected "
            f"{', '.join(spec.layout)}); check that the right archives were extracted there, or the `path:` of "
            f"{spec.name}"
        )


# --- extraction -----------------------------------------------------------------------------------------------------


def _inside(name: str, archive: Path) -> str:
    """The member path, normalised; DataError when it is absolute or climbs out of the target folder."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if PurePosixPath(normal).is_absolute() or re.match(r"^[A-Za-z]:", normal) or normal.split("/")[0] == "..":
        raise DataError(
            f"{archive.name}: member {name!r} would be written outside the target folder; refusing to extract "
            f"(the archive is malformed or malicious: delete {archive} and download it again from the official source)"
        )
    return normal


def _checked_tar_members(tf: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    """Yield members one by one as they are read (a tar.gz is decompressed once), refusing any that escape."""
    for member in tf:
        name = _inside(member.name, archive)
        if member.issym():  # target relative to the link's own folder
            _inside(member.linkname if member.linkname.startswith("/") else posixpath.join(posixpath.dirname(name),
                    member.linkname), archive)  # fmt: skip
        elif member.islnk():  # target relative to the archive root
            _inside(member.linkname, archive)
        elif not (member.isfile() or member.isdir()):
            raise DataError(f"{archive.name}: member {member.name!r} is a device or fifo; refusing to extract")
        yield member


def _format(archive: Path) -> str | None:
    name = archive.name.lower()
    return "zip" if name.endswith(_ZIP) else "tar" if name.endswith(_TAR) else None


def extract_archive(archive: str | Path, dest_dir: str | Path) -> None:
    """Extract one zip or tar archive into the existing folder ``dest_dir``, refusing members that escape it."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise DataError(f"archive {archive} does not exist: run the download step for its dataset again")
    kind = _format(archive)
    if kind is None:
        raise DataError(
            f"{archive.name}: unsupported archive format (zip and tar only); extract it by hand (e.g. `7z x "
            f"{archive}`) into {dest_dir}, or anywhere and set `source: extracted` with `path:` for its dataset"
        )
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():  # check every name before writing anything
                    _inside(member.filename, archive)
                zf.extractall(dest_dir)  # reading each member to its end checks its CRC
        else:
            with tarfile.open(archive) as tf:
                members = _checked_tar_members(tf, archive)
                # our own checks above are the guard; the "data" filter (Python >= 3.11.4) adds permission sanitising
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(dest_dir, members=members, **extra)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:  # a real filesystem problem, not a bad archive
            raise DataError(f"extracting {archive.name} into {dest_dir} failed: {error}") from error
        raise DataError(
            f"{archive.name} is corrupt or truncated ({error}); delete {archive} and re-run to download it again"
        ) from error


def extract_archives(archives: Iterable[str | Path], dest: str | Path) -> Path:
    """Extract all ``archives`` into ``dest`` as one atomic step: ``dest`` appears only if every archive succeeded."""
    archives, dest = [Path(a) for a in archives], Path(dest)
    for archive in archives:  # fail before creating anything when a format cannot be handled
        if _format(archive) is None:
            extract_archive(archive, dest)
    with atomic_dir(dest) as tmp:
        for archive in archives:
            log.info("extracting %s into %s", archive, dest)
            extract_archive(archive, tmp)
    return dest
