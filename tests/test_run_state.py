"""The run folder's state: pointer files a trainer rewrites in place get an inode of their own first, so a DVC cache
that checked them out as links (.dvc/config: cache.type) keeps its copy."""

from __future__ import annotations

import os

from rsfm.run_state import own_copies


def test_linked_pointer_files_get_their_own_inode_and_keep_their_content(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "hard").write_text("step00000010")
    (cache / "soft").write_text("iter_20.pth")
    run = tmp_path / "run"
    run.mkdir()
    os.link(cache / "hard", run / "latest")
    (run / "last_checkpoint").symlink_to(cache / "soft")
    (run / "own").write_text("x")
    inode = (run / "own").stat().st_ino

    replaced = own_copies(run, ["latest", "last_checkpoint", "own", "missing"])
    assert replaced == [run / "latest", run / "last_checkpoint"]
    assert not (run / "last_checkpoint").is_symlink() and (run / "latest").stat().st_nlink == 1
    assert (run / "latest").read_text() == "step00000010" and (run / "last_checkpoint").read_text() == "iter_20.pth"
    assert (run / "own").stat().st_ino == inode  # not a link: left as it is

    (run / "latest").write_text("step00000020")  # the trainer's in-place rewrite
    (run / "last_checkpoint").write_text("iter_40.pth")
    assert (cache / "hard").read_text() == "step00000010" and (cache / "soft").read_text() == "iter_20.pth"
