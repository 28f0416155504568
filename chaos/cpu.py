"""Who used the machine's CPU during the run: the suite's own processes, or others (a shared machine).

A sampler thread reads ``/proc`` every two seconds: the machine's busy time (``/proc/stat``) and the CPU time
of every process in the trees the suite started (web, worker, beat, PostgreSQL, Redis) and of the harness
itself. A process that died between samples keeps its last reading, so ``kill -9`` loses at most two seconds
of its time; figures are approximate, good enough to say whether a slow recovery had the cores to itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cluster import descendants

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def process_jiffies(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@dataclass
class CpuShare:
    seconds: float
    cores: int
    busy_share: float  # of all cores
    ours_share: float
    others_share: float

    def describe(self) -> str:
        return (
            f"the {self.cores} cores were {self.busy_share * 100:.0f} % busy: {self.ours_share * 100:.0f} % the "
            f"suite and the product it drives, {self.others_share * 100:.0f} % other processes"
        )


class CpuSampler:
    """Samples ``roots()`` (PIDs whose trees are ours) every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 2.0) -> None:
        self.roots = roots
        self.interval = interval
        self._stop = threading.Event()
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._start: tuple[int, int] = (0, 0)
        self._end: tuple[int, int] = (0, 0)
        self._thread = threading.Thread(target=self._loop, name="chaos-cpu", daemon=True)
        self._started = False

    def start(self) -> None:
        self._start = machine_busy()
        self._sample(first=True)
        self._started = True
        self._thread.start()

    def stop(self) -> CpuShare:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()
        self._end = machine_busy()
        busy = self._end[0] - self._start[0]
        total = self._end[1] - self._start[1]
        ours = sum(self._last[pid] - self._first.get(pid, 0) for pid in self._last)
        cores = os.cpu_count() or 1
        seconds = total / CLK_TCK / cores if total else 0.0
        return CpuShare(
            seconds=seconds,
            cores=cores,
            busy_share=busy / total if total else 0.0,
            ours_share=min(ours, busy) / total if total else 0.0,
            others_share=max(0, busy - ours) / total if total else 0.0,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        pids = {os.getpid(), *descendants(os.getpid())}  # the harness and every process it launched
        for root in self.roots():  # and daemons it started that are not its children (the postmaster)
            pids.add(root)
            pids.update(descendants(root))
        for pid in pids:
            jiffies = process_jiffies(pid)
            if jiffies is None:
                continue
            if first:
                self._first[pid] = jiffies
            self._last[pid] = jiffies
