"""Run a plain function over many inputs on a local process pool or a Dask cluster.

Results stream back to the caller (the single writer) in completion order as
``(index, result)`` pairs; the function must be a picklable top-level function
that returns its failures as values rather than raising. A task whose Dask worker
dies is rescheduled by Dask on another worker, so it is neither lost nor
returned twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Callable, Iterator, Sequence

from phenograd.core.errors import InputError


def default_workers() -> int:
    """Local worker count: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_unordered(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int | None = None,
    scheduler: str | None = None,
    max_in_flight: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield (index into items, fn(item)) as each finishes.

    workers: local processes (default: all CPUs); 1 runs in this process.
    scheduler: address of an existing Dask scheduler ("tcp://host:port") or a
    scheduler JSON file; when given, tasks go to that cluster instead.
    max_in_flight: bound on submitted-but-unfinished tasks (default 4 per worker).
    """
    if scheduler:
        yield from _run_dask(fn, items, scheduler, max_in_flight)
        return
    n = workers or default_workers()
    if n < 1:
        raise InputError(f"workers must be at least 1, got {n}", parameter="workers")
    if n == 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    limit = max_in_flight or 4 * n
    # forkserver: workers start from a clean interpreter, not a fork of a process holding torch threads.
    pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("forkserver"), initializer=_unwind_on_sigterm)
    pending = {}
    try:
        it = iter(enumerate(items))
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < limit:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                pending[pool.submit(_run_task, fn, nxt[1])] = nxt[0]
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield pending.pop(fut), fut.result()
    finally:
        if pending:  # stopped early (SIGTERM, Ctrl-C, the caller's error): stop the workers, run nothing more
            for worker in list(getattr(pool, "_processes", {}).values()):
                worker.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        else:
            pool.shutdown(wait=True)


class _TaskTerminated(SystemExit):
    """SIGTERM in a pool worker (a SystemExit, so an idle worker exits quietly with its code)."""


def _run_task(fn: Callable[[Any], Any], item: Any) -> Any:
    """fn(item) in a pool worker; after SIGTERM has unwound the task (its cleanup has run), the worker exits
    at once instead of taking the next task."""
    try:
        return fn(item)
    except _TaskTerminated:
        os._exit(128 + signal.SIGTERM)


def _raise_task_terminated(signum, frame):
    # A worker usually hears SIGTERM twice: from the group signal and from the parent stopping its pool. The
    # second must not interrupt the cleanup the first one started (an XFOIL directory half removed).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _TaskTerminated(128 + signum)


def _unwind_on_sigterm() -> None:
    """Pool-worker initializer: SIGTERM unwinds the running task (its temporary directory is removed and a
    simulator in a session of its own is killed by the task's own cleanup); then the worker exits (_run_task).
    An idle worker exits through the same exception."""
    signal.signal(signal.SIGTERM, _raise_task_terminated)


#: A Dask address: an optional protocol, then host[:port] without spaces, quotes or shell characters.
_ADDRESS = re.compile(r"(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?[A-Za-z0-9._\-\[\]:%/]+")


def scheduler_address(scheduler: str) -> str:
    """The address a --scheduler value names: the value itself, or the "address" entry of a scheduler
    file (the JSON that `dask scheduler --scheduler-file` writes; read as JSON only, never executed).
    InputError for a file that is not such JSON or an address of another shape."""
    text = str(scheduler)
    if text.endswith(".json") or os.path.isfile(text):
        try:
            with open(text, "rb") as f:
                raw = f.read(1 << 20)
            doc = json.loads(raw.decode("utf-8"))
        except OSError as exc:
            raise InputError(f"Dask scheduler file {text!r}: cannot read it ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"Dask scheduler file {text!r} is not JSON ({type(exc).__name__})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("address"), str):
            raise InputError(f'Dask scheduler file {text!r} has no "address" string')
        text = doc["address"]
    if not _ADDRESS.fullmatch(text):
        raise InputError(f"bad Dask scheduler address {text[:80]!r}: use tcp://HOST:PORT or a scheduler file")
    return text


def connect(scheduler: str):
    """A Dask distributed Client for an address or scheduler file; InputError if unreachable.
    The scheduler and its workers are trusted: Dask sends tasks and results between them as pickles."""
    address = scheduler_address(scheduler)
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach Dask scheduler {scheduler!r}: {exc}") from None


def _run_dask(fn, items, scheduler, max_in_flight) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    client = connect(scheduler)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = max_in_flight or 4 * n_workers
        it = iter(enumerate(items))
        index_of = {}
        batch = []
        for _ in range(limit):
            nxt = next(it, None)
            if nxt is None:
                break
            fut = client.submit(fn, nxt[1], pure=False)
            index_of[fut.key] = nxt[0]
            batch.append(fut)
        if not batch:
            return
        queue = as_completed(batch, with_results=True)
        for fut, result in queue:
            yield index_of.pop(fut.key), result
            nxt = next(it, None)
            if nxt is not None:
                new = client.submit(fn, nxt[1], pure=False)
                index_of[new.key] = nxt[0]
                queue.add(new)
    finally:
        client.close()
