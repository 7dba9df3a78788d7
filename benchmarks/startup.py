"""Start-up: how long `assistcal --help` takes, and how long `assistcal serve` takes on a
fresh SQLite database until /healthz answers.

    python benchmarks/startup.py [--runs 15] [--serve-runs 5]

Every run is a new process running this checkout's code (PYTHONPATH), through the
`assistcal` script beside this Python when it is installed, else `python -m app`.  For
`--help` it prints the median and the spread of the wall and CPU times (user + system).
For `serve` (one worker, a free port, a new SQLite file each run, so the figures include
the migrations and the first admin key) it prints the wall time from starting the process
until GET /healthz answers 200 (asked every 10 ms), and the CPU time (user + system, from
/proc) the server and any child had spent at that moment.  CPU time is the steadier figure
on a shared machine: waiting for the cores does not count in it.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.api_throughput import free_port

TICK = os.sysconf("SC_CLK_TCK")


def command() -> list[str]:
    script = Path(sys.executable).with_name("assistcal")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app"]


def environment(**extra: str) -> dict[str, str]:
    """This checkout's code first; no ASSISTCAL_* setting or .env of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTCAL_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def help_seconds() -> tuple[float, float]:
    """(wall, CPU) of one `assistcal --help`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [*command(), "--help"],
        env=environment(),
        cwd=tempfile.gettempdir(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and its live descendants (Linux /proc)."""
    proc = Path(f"/proc/{pid}")
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    children = [
        int(child)
        for task in (proc / "task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return ticks / TICK + sum(cpu_seconds(child) for child in children)


def serve_seconds(folder: str, run: int) -> tuple[float, float]:
    """(wall, CPU) from starting `serve` on a new SQLite file until /healthz answers 200."""
    port = free_port()
    env = environment(ASSISTCAL_DATABASE_URL=f"sqlite:///{folder}/startup-{run}.db")
    started = time.perf_counter()
    server = subprocess.Popen(
        [*command(), "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            while time.perf_counter() - started < 60:
                try:
                    if client.get("/healthz").status_code == 200:
                        return time.perf_counter() - started, cpu_seconds(server.pid)
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server stopped with status {server.returncode}")
                time.sleep(0.01)
        raise SystemExit("the server did not answer /healthz within 60 s")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (from {min(values):.2f} to {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of --help")
    parser.add_argument("--serve-runs", type=int, default=5, help="runs of serve")
    args = parser.parse_args()

    print(f"{' '.join(command())} ({ROOT})")
    help_seconds()  # the first run pays for reading the files from disk
    helps = [help_seconds() for _ in range(args.runs)]
    print(
        f"assistcal --help, {args.runs} runs: wall {summary([wall for wall, _ in helps])}; "
        f"CPU {summary([cpu for _, cpu in helps])}"
    )
    with tempfile.TemporaryDirectory() as folder:
        serve_seconds(folder, -1)  # and the first serve for compiling the rest
        runs = [serve_seconds(folder, run) for run in range(args.serve_runs)]
    print(
        f"assistcal serve until /healthz answers 200, {args.serve_runs} runs: "
        f"wall {summary([wall for wall, _ in runs])}; "
        f"server CPU {summary([cpu for _, cpu in runs])}"
    )


if __name__ == "__main__":
    main()
