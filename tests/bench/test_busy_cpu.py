"""bench.measure.BusyCPU: the machine's busy CPU time over a stretch, from /proc/stat."""

from __future__ import annotations

import os

import pytest

from bench.measure import BusyCPU

HZ = os.sysconf("SC_CLK_TCK")


def _stat(path, user, system, idle, iowait, steal=0):
    path.write_text(f"cpu  {user} 0 {system} {idle} {iowait} 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")


def test_counts_every_kind_of_busy_time_but_idle_and_io_wait(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    monkeypatch.setattr(BusyCPU, "STAT", str(stat))
    _stat(stat, user=100, system=50, idle=1000, iowait=10)
    cpu = BusyCPU()
    with cpu:
        # 3 s of user, 1 of system, 0.5 stolen by the host; idle and I/O wait do not count.
        _stat(stat, user=100 + 3 * HZ, system=50 + HZ, idle=1000 + 9 * HZ, iowait=10 + HZ, steal=HZ // 2)
    assert cpu.seconds == pytest.approx(4 + (HZ // 2) / HZ)
    assert cpu.wall > 0
    assert cpu.cores == pytest.approx(cpu.seconds / cpu.wall)
    assert cpu.bound == pytest.approx(cpu.seconds / os.cpu_count())
    assert cpu.words().startswith(f"{cpu.seconds:.1f} CPU-seconds, ")
    assert cpu.words().endswith(f" of {os.cpu_count()} cores busy")


def test_says_nothing_where_the_machine_has_no_proc_stat(tmp_path, monkeypatch):
    monkeypatch.setattr(BusyCPU, "STAT", str(tmp_path / "missing"))
    with BusyCPU() as cpu:
        pass
    assert cpu.seconds is None and cpu.cores is None and cpu.bound is None
    assert cpu.words() == ""


def test_a_stat_file_it_cannot_read_is_no_figure_rather_than_an_error(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  not numbers\n")
    monkeypatch.setattr(BusyCPU, "STAT", str(stat))
    with BusyCPU() as cpu:
        pass
    assert cpu.seconds is None and cpu.words() == ""


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux only: /proc/stat")
def test_the_real_machine_shows_the_work_done_meanwhile():
    with BusyCPU() as cpu:
        sum(n * n for n in range(2_000_000))  # about a tenth of a second of this process's CPU
    assert cpu.seconds > 0 and 0 < cpu.cores < os.cpu_count() + 1  # idle time not counted
