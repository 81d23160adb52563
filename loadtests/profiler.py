"""py-spy on the server for the measured window of a run, and the CPU budget it yields.

Apart from the locust run because it is optional (``--profile``) and has its own life cycle: a
timer starts it after the warm-up, and its samples become budget lines only once the run's
throughput is known (:mod:`loadtests.budget` says which frame is charged to which line).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from loadtests.budget import budget_from_collapsed
from loadtests.servers import stop

__all__ = ["Sampler"]


class Sampler:
    """py-spy on the server for the measured window of a run (starts after the warm-up)."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.pid, self.seconds, self.out = pid, seconds, out
        self.proc: subprocess.Popen[bytes] | None = None
        self.timer: threading.Timer | None = None

    def start_after(self, delay: float) -> None:
        self.timer = threading.Timer(delay, self._start)
        self.timer.start()

    def _start(self) -> None:
        cmd = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(self.pid),
            "--duration",
            str(max(1, round(self.seconds))),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(self.out),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.proc is not None:
            stop(self.proc, timeout=5)

    def budget(self, record: dict[str, Any]) -> dict[str, Any]:
        """Budget lines as shares of sampled CPU and as microseconds per decision."""
        if self.timer is not None:
            self.timer.join()
        if self.proc is None:
            return {"error": "py-spy did not start"}
        try:
            _, err = self.proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            stop(self.proc, timeout=5)
            return {"error": "py-spy did not finish"}
        if self.proc.returncode != 0 or not self.out.exists():
            return {"error": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
        samples = budget_from_collapsed(self.out.read_text().splitlines())
        total = sum(samples.values())
        per_s = record["throughput_per_s"]
        server_cpu = record["cpu_share"].get("server", 0.0)
        us_per_decision = 1e6 * server_cpu / per_s if per_s else 0.0
        return {
            "samples": total,
            "server_cpu_us_per_decision": us_per_decision,
            "lines": {
                line: {"share": n / total, "us_per_decision": us_per_decision * n / total}
                for line, n in sorted(samples.items(), key=lambda kv: -kv[1])
            },
            "file": self.out.name,
        }
