"""The bounded process pool of feature workers: forkserver processes, batches by output folder, shut-down."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from kwtui.core.data.plan import ClipPlan
from kwtui.core.features.worker import init_worker


def shutdown_pool(pool: ProcessPoolExecutor, now: bool) -> None:
    """Wait for the batches in flight; but after an exception (a second Ctrl-C while waiting, a crash)
    terminate the workers at once: waiting on them could leave kwtui hanging at exit."""
    if not now:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        except BaseException:
            _terminate(pool)
            raise
    _terminate(pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def batches_by_folder(plan: ClipPlan, todo: list[int], workers: int) -> list[list[int]]:
    """Tasks of up to 256 jobs (< 0.2 s each, 8+ per worker), each from one output folder, the folders taken in
    turn: workers running at the same time then write to different folders (creating and renaming files in one
    folder serialise on its lock: two writers in one folder got 1.1-1.5x, in two folders 1.9x). The last tasks
    are a quarter size, so the workers finish together."""
    size = max(1, min(256, len(todo) // (workers * 8)))
    by_folder: dict[str, list[int]] = {}
    for i in todo:
        by_folder.setdefault(os.path.dirname(plan.jobs[i].output), []).append(i)
    per_folder = [[ids[k : k + size] for k in range(0, len(ids), size)] for ids in by_folder.values()]
    batches = [batch for turn in itertools.zip_longest(*per_folder) for batch in turn if batch]
    small = -(-size // 4)
    batches[-2 * workers :] = [b[i : i + small] for b in batches[-2 * workers :] for i in range(0, len(b), small)]
    return batches


def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["kwtui.core.features.worker", "threadpoolctl"]
    )  # workers start with numpy & co. imported
    return context


def start_forkserver() -> None:
    """Start the process the workers fork from, without waiting: it imports the workers' modules while the
    stage scans and plans, instead of after."""
    from multiprocessing import forkserver

    _forkserver()
    forkserver.ensure_running()


def make_pool(workers: int, config: dict[str, Any], stop: Any = None) -> ProcessPoolExecutor:
    """The worker pool: forkserver processes (no fork of a threaded parent, e.g. the wizard), each running
    init_worker (single-threaded BLAS, SIGINT ignored, exits with the parent). `stop` (stop_event()) set by
    the parent makes every worker stop before its next file."""
    return ProcessPoolExecutor(workers, mp_context=_forkserver(), initializer=init_worker, initargs=(config, stop))


def stop_event() -> Any:
    return multiprocessing.get_context("forkserver").Event()
