"""bench.measure.SessionCPU: the CPU time of one session's processes, apart from the machine's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.measure import SessionCPU

HZ = os.sysconf("SC_CLK_TCK")


def _process(proc, pid, *, session, utime, stime=0, cutime=0, cstime=0, name="python"):
    """A /proc/<pid>/stat line as Linux writes it (proc(5)): pid (comm) state ppid pgrp session ..."""
    folder = proc / str(pid)
    folder.mkdir(exist_ok=True)
    fields = ["S", "1", str(session), str(session), "0", "-1", "4194304", "0", "0", "0", "0"]
    fields += [str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1", "0", "100"]
    (folder / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


def test_counts_the_sessions_processes_and_no_others(tmp_path, monkeypatch):
    monkeypatch.setattr(SessionCPU, "PROC", str(tmp_path))
    _process(tmp_path, 500, session=500, utime=10)  # the cluster
    _process(tmp_path, 501, session=500, utime=20, stime=5)  # a worker
    _process(tmp_path, 900, session=900, utime=50, name="postgres: 15/main: writer (x) y")
    with SessionCPU(500) as cpu:
        _process(tmp_path, 500, session=500, utime=10 + HZ)
        _process(tmp_path, 501, session=500, utime=20 + 2 * HZ, stime=5 + HZ)
        # The database worked hard meanwhile: not the session's.
        _process(tmp_path, 900, session=900, utime=50 + 9 * HZ, name="postgres: 15/main: writer (x) y")
        (tmp_path / "self").mkdir()  # /proc holds more than processes
    assert cpu.seconds == pytest.approx(4.0)


def test_a_child_that_exits_meanwhile_is_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(SessionCPU, "PROC", str(tmp_path))
    _process(tmp_path, 500, session=500, utime=10)
    _process(tmp_path, 501, session=500, utime=3 * HZ)  # a worker, recycled during the stretch
    with SessionCPU(500) as cpu:
        # It ran one second more, exited, and its parent waited for it: its 4 s are the parent's now.
        (tmp_path / "501" / "stat").unlink()
        (tmp_path / "501").rmdir()
        _process(tmp_path, 500, session=500, utime=10, cutime=3 * HZ, cstime=HZ)
        _process(tmp_path, 502, session=500, utime=HZ // 2)  # its replacement
    assert cpu.seconds == pytest.approx(1 + (HZ // 2) / HZ)


def test_no_figure_where_proc_is_missing_or_the_session_is_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(SessionCPU, "PROC", str(tmp_path / "missing"))
    with SessionCPU(500) as cpu:
        pass
    assert cpu.seconds is None
    monkeypatch.setattr(SessionCPU, "PROC", str(tmp_path))
    _process(tmp_path, 900, session=900, utime=50)
    (tmp_path / "901").mkdir()  # a process that went between the listing and the read
    with SessionCPU(500) as cpu:
        pass
    assert cpu.seconds is None


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux only: /proc")
def test_the_real_machine_shows_a_sessions_work_and_not_this_processs():
    # The child says it is ready, works once told to, says it is done and waits (alive, to be read).
    work = (
        "import sys; print('ready', flush=True); sys.stdin.readline(); "
        "sum(n * n for n in range(3_000_000)); print('done', flush=True); sys.stdin.readline()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", work],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout.readline() == "ready\n"
        with SessionCPU(child.pid) as waiting:
            sum(n * n for n in range(3_000_000))  # this process's work, a tenth of a second or more
        with SessionCPU(child.pid) as working:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
    finally:
        child.kill()
        child.wait()
    assert waiting.seconds is not None and waiting.seconds < 0.05
    assert working.seconds is not None and working.seconds >= 0.05
