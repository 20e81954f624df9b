"""Report figures rendered to PNG in a helper process while the run goes on.

Rendering the report's figures with Agg is interpreter-bound work (about 3.6 s for the 15 figures
of the full default run, on one core), and it used to wait for the end of the run. Threads do not
help: they share the interpreter lock with the stages. A helper process does where the stages
leave a core free (three cores or more; a GPU run leaves most of the host's): each stage's figures
are pickled as the stage ends and rendered there while the next stage runs. A figure's pickle
renders to the very same PNG bytes as the figure itself.

Anything that goes wrong on that side (a figure that does not pickle, a helper that cannot start
or dies) falls back to rendering the figure in the calling process: the report is the same, only
later.

The helper is a spawned interpreter, which imports the caller's main module as a module: the
caller's script must keep its work under ``if __name__ == "__main__":``. That is why only the
``gpu-moa`` command turns the helper on (``settings.figure_process``); a script or notebook may set
it too.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from gpu_moa import _backend

logger = logging.getLogger(__name__)


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) in this process for the block, when its handler is Python's.

    A process started inside keeps ignoring it from its first instruction (an ignored signal
    stays ignored across ``exec``, and Python installs no handler over it): Ctrl-C is the
    caller's to handle, and the caller stops the helper, which would otherwise print a
    traceback of whatever it was importing.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if previous is None:  # not the main thread, or a handler set outside Python: leave it be
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ready() -> bool:
    """Import the plotting code in the helper ahead of the first figure."""
    from gpu_moa.pl import to_png  # noqa: F401

    return True


def _render(payload: bytes) -> bytes:
    """PNG bytes of a pickled figure (runs in the helper)."""
    from gpu_moa.pl import to_png

    return to_png(pickle.loads(payload))


class FigureProcess:
    """Renders figures to PNG in one helper process; a context manager that owns the helper.

    :meth:`submit` queues figures as soon as they are final; :meth:`png` returns a figure's
    bytes, from the helper when it was submitted and rendered there, else rendered here.

    Parameters
    ----------
    min_cores : int, default 3
        Start the helper only with at least this many usable cores; with fewer, every figure
        renders here. On the 2-core CI machine the helper's work (3.6 s of rendering, 1.6 s of
        imports) displaced the stages' own: the full run took 46.6 s against 47.1 s without it
        over four interleaved pairs, a difference within the noise, for 2.5 s more CPU.
    """

    def __init__(self, *, min_cores: int = 3) -> None:
        self.min_cores = min_cores
        self._pool: ProcessPoolExecutor | None = None
        #: id(figure) -> (figure, future); the figure is kept so that its id stays unique
        self._pending: dict[int, tuple[Any, Future]] = {}

    def __enter__(self) -> FigureProcess:
        if _backend.usable_cores() < self.min_cores:
            return self
        pool = None
        try:
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            with _interrupts_ignored():  # the first task starts the helper, which then imports
                pool.submit(_ready)  # while the run loads its data
        except Exception as exc:  # no processes or semaphores here (sem_open): render in this one
            logger.info("figures render in this process: no helper process (%s)", exc)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            return self
        self._pool = pool
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

    def submit(self, figures: list[Any]) -> None:
        """Start rendering ``figures``, which must not change afterwards."""
        if self._pool is None:
            return
        for fig in figures:
            try:
                payload = pickle.dumps(fig, protocol=pickle.HIGHEST_PROTOCOL)
                self._pending[id(fig)] = (fig, self._pool.submit(_render, payload))
            except Exception as exc:  # unpicklable artist, helper gone: render it here later
                logger.debug("figure renders in this process: %s", exc)

    def png(self, fig: Any) -> bytes:
        """PNG bytes of ``fig`` (:func:`gpu_moa.pl.to_png` at its defaults)."""
        from gpu_moa.pl import to_png

        entry = self._pending.pop(id(fig), None)
        if entry is not None:
            try:
                return entry[1].result()
            except Exception as exc:  # the helper failed on it: render it here instead
                logger.info("figure rendered in this process after the helper failed: %s", exc)
        return to_png(fig)
