"""The test helpers that tests rely on to clean up after themselves."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import run_process_group


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "Z" not in state.split()[1]  # a zombie holds no core, only a table entry


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_timeout_kills_the_commands_children_too(tmp_path):
    # The shape of the torchrun launcher: a parent waiting on a child that never ends.
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        run_process_group([sys.executable, "-c", script], timeout=3)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_finished_command_gives_its_output_and_exit_status():
    done = run_process_group([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], 30)
    assert (done.returncode, done.stdout) == (3, "hi\n")
