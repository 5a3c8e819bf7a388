"""Run a few CPU-bound searches side by side in forked processes, under a hard deadline.

Each call gets a `report` function and sends its best answer so far through it as it improves;
at the deadline the parent keeps each call's latest report and stops the processes, so a search
that overruns (a long local-search pass on a loaded machine) costs its last few improvements,
never the budget. Forking shares the parent's memory (problem data, matrices) without pickling;
only the answers are pickled back. Without `fork` (not Linux), or inside a daemonic process that
may not have children, the calls run one after another in this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Report = Callable[[Any], None]
log = logging.getLogger(__name__)

GRACE = 0.01
"""Seconds the parent waits past the deadline for final answers before it stops the processes
(searches stop a little before the deadline, `_pyvrp_search.STOP_EARLY`)."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _child(fn: Callable[[Report], Any], conn: multiprocessing.connection.Connection) -> None:
    def report(value: Any) -> None:
        conn.send(("best", value))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn(report)
        conn.send(("done", result))
    except BaseException as exc:  # tell the parent; never raise in a forked child
        conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _inline(calls: Sequence[Callable[[Report], T]]) -> list[T | None]:
    out: list[T | None] = []
    for call in calls:
        latest: list[T] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(call(latest.append))
        except Exception:
            log.exception("solver call failed")
            out.append(latest[-1] if latest else None)
    return out


def run(calls: Sequence[Callable[[Report], T]], until: float) -> list[T | None]:
    """Each call's last answer by `until` (monotonic), None for a call that had none.

    All calls start at once: the caller sizes the list to the cores it wants to use.
    """
    if len(calls) == 1 or not can_fork():
        return _inline(calls)
    ctx = multiprocessing.get_context("fork")
    procs: list[tuple[Any, multiprocessing.connection.Connection]] = []
    for call in calls:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(call, child), daemon=True)
        try:
            proc.start()
        except AssertionError:  # a daemonic process may not have children
            parent.close()
            child.close()
            for p, c in procs:
                p.kill()
                p.join()
                c.close()
            return _inline(calls)
        child.close()
        procs.append((proc, parent))
    results: list[T | None] = [None] * len(calls)
    pending = set(range(len(calls)))
    by_conn = {id(conn): i for i, (_p, conn) in enumerate(procs)}
    while pending:
        wait = until + GRACE - time.monotonic()
        if wait <= 0:
            break
        for conn in multiprocessing.connection.wait([procs[i][1] for i in pending], timeout=wait):
            assert isinstance(conn, multiprocessing.connection.Connection)
            i = by_conn[id(conn)]
            try:
                while True:
                    status, value = conn.recv()
                    if status == "error":
                        log.error("solver process failed: %s", value)
                        pending.discard(i)
                        break
                    results[i] = value
                    if status == "done":
                        pending.discard(i)
                        break
                    if not conn.poll():
                        break
            except (EOFError, OSError):
                pending.discard(i)
    for i, (proc, conn) in enumerate(procs):
        if i in pending:
            log.debug("solver process %s stopped at the deadline", proc.pid)
        if proc.is_alive():
            proc.kill()  # answered or out of time: nothing more to wait for
        conn.close()
    for proc, _conn in procs:
        proc.join(timeout=1)
    return results


def workers() -> int:
    """How many processes to run side by side: the cores this process may use, or
    `LASTMILE_SOLVER_PROCESSES` when set lower."""
    from lastmile.routing.solver.engines.base import cpu_count

    limit = int(os.environ.get("LASTMILE_SOLVER_PROCESSES", "0") or 0)
    n = cpu_count()
    return max(1, min(n, limit) if limit > 0 else n)
