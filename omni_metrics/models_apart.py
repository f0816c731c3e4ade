"""The models and attribution of one view computed in a child process at the lowest CPU priority.

The dashboard computes a large view's models ahead of time (about 40 s on a million customers), while the reader
goes on changing filters. In the app's own process that work competed with the reader's reports for the two
cores and for Python's lock: pausing it at chosen points still left long stretches (a 20 s polars query, the
model fits) during which a filter change took half as long again. A child process scheduled as idle
(SCHED_IDLE on Linux, the lowest nice value elsewhere) gets a core only when nothing else wants it, and shares
no lock with the app, so a report the reader waits for runs nearly as fast as alone.

The child reads the stored tables (Parquet), prepares the view the same way (report.prepare: the same rows in
the same order as the app's memo gives), computes report.model_results and writes them to a scratch folder:
the two dicts as JSON, the frames as Arrow IPC files (exact types). The app then adds them to the view's
report with report.with_models. The cost is memory: the child holds its own copy of the tables and the
prepared touches (about 5 GB at a million customers, for as long as it runs).

    python -m omni_metrics.models_apart OUT_DIR SETTINGS_JSON TABLE_PATHS_JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from omni_metrics.report import ModelResults, Settings, model_results, prepare
from omni_metrics.store import read_table

FRAMES = ("clv_frame", "churn_frame", "attribution")


class ModelsApartError(RuntimeError):
    """The child process failed; the message is the last line it wrote to its error stream. `stopped`: it was
    stopped from outside (compute's `stop`; SIGINT, SIGTERM: the app is being shut down), not failed on its
    own."""

    def __init__(self, message: str, stopped: bool = False) -> None:
        super().__init__(message)
        self.stopped = stopped


def compute(table_paths: Mapping[str, Path], settings: Settings,
            stop: Callable[[], bool] | None = None) -> ModelResults:
    """model_results of the view `settings` of the tables stored at `table_paths` (table name → Parquet file),
    computed in a child process at the lowest CPU priority. `stop`: asked twice a second; when it returns True
    the child is ended. Raises ModelsApartError when the child fails or is stopped."""
    with tempfile.TemporaryDirectory(prefix="omni-models-") as out:
        paths = {name: str(path) for name, path in table_paths.items()}
        command = [sys.executable, "-m", "omni_metrics.models_apart", out, json.dumps(settings.to_query()),
                   json.dumps(paths)]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as child:
            while True:
                try:
                    _, errors = child.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if stop is not None and stop():
                        child.terminate()
                        child.communicate()
                        raise ModelsApartError("stopped: another view's models are waited for", stopped=True) \
                            from None
        if child.returncode != 0:
            lines = [line for line in errors.splitlines() if line.strip()]
            raise ModelsApartError(lines[-1] if lines else f"the models' process ended with {child.returncode}",
                                   stopped=child.returncode in (-signal.SIGINT, -signal.SIGTERM))
        return read_results(Path(out))


def lowest_priority() -> None:
    """Run this process only when no other wants the cores: SCHED_IDLE where there is one (Linux), else the
    highest nice value."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:  # a sandbox that refuses it: the nice value then
            pass
    if hasattr(os, "nice"):
        os.nice(19)


def write_results(results: ModelResults, out: Path) -> None:
    (out / "results.json").write_text(json.dumps({
        "clv": results.clv, "churn": results.churn, "attribution_error": results.attribution_error,
        "frames": [name for name in FRAMES if getattr(results, name) is not None],
    }))
    for name in FRAMES:
        frame = getattr(results, name)
        if frame is not None:
            frame.write_ipc(out / f"{name}.arrow")


def read_results(out: Path) -> ModelResults:
    written = json.loads((out / "results.json").read_text())
    # read from bytes, not memory-mapped: the folder is deleted once they are read
    frames = {name: pl.read_ipc((out / f"{name}.arrow").read_bytes()) if name in written["frames"] else None
              for name in FRAMES}
    return ModelResults(clv=written["clv"], churn=written["churn"], attribution_error=written["attribution_error"],
                        **frames)


def main(argv: list[str]) -> None:
    lowest_priority()
    out, query, paths = Path(argv[0]), json.loads(argv[1]), json.loads(argv[2])
    settings = Settings.from_query(query)
    tables = {name: read_table(Path(path)) for name, path in paths.items()}
    view = prepare(tables, settings)
    del tables  # the view holds what it needs
    write_results(model_results(view.touches, view.orders, view.surveys, view.as_of, settings), out)


if __name__ == "__main__":
    main(sys.argv[1:])
