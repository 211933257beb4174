"""`make browser` (.ci/chromium): Chromium is there, is installed, or the step fails saying why."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

STEP = ROOT / ".ci" / "chromium"


def run_step(chromium: str, path: str, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, str(STEP), chromium],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_installed_chromium_passes_quietly() -> None:
    done = run_step(sys.executable, os.environ["PATH"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_without_a_way_to_install_it_the_step_fails_and_says_why(tmp_path: Path) -> None:
    # Only the tools the step needs besides apt-get.
    for tool in ("bash", "id"):
        (tmp_path / tool).symlink_to(shutil.which(tool))
    missing = str(tmp_path / "no-chromium")
    done = run_step(missing, str(tmp_path), str(tmp_path / "bash"))
    assert done.returncode == 1
    reason = "has no apt-get" if os.geteuid() == 0 else "this is not root"
    assert f"{missing} is missing and" in done.stderr
    assert reason in done.stderr
    assert "install the Debian package 'chromium'" in done.stderr


def test_a_user_other_than_root_is_told_to_install_it(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux's setpriv is needed to run the step as another user"
    missing = str(tmp_path / "no-chromium")
    if os.geteuid() == 0:
        as_nobody = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
        done = run_step(missing, os.environ["PATH"], *as_nobody)
    else:
        done = run_step(missing, os.environ["PATH"])
    assert done.returncode == 1
    assert "this is not root (uid " in done.stderr
