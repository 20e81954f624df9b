"""Dask clusters (CPU LocalCluster, dask-cuda LocalCUDACluster, a remote scheduler) and computing
with a progress bar that follows the Dask tasks.

Dask, distributed and dask-cuda are imported lazily inside functions: ``import gpu_moa`` never loads
them.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from types import ModuleType, TracebackType
from typing import Any

from gpu_moa import _backend
from gpu_moa._settings import settings

logger = logging.getLogger("gpu_moa")

DASK_INSTALL_HINT = "install Dask: `pip install 'gpu_moa[dask]'`"
DASK_CUDA_INSTALL_HINT = "install dask-cuda: `pip install 'gpu_moa[dask-cuda]'`"


def import_dask(name: str = "dask.array") -> ModuleType:
    """Import a Dask module (``dask.array``, ``distributed``, ``dask_cuda``...).

    Raises
    ------
    BackendUnavailableError
        When it is not installed; the message gives the pip extra that installs it.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        hint = DASK_CUDA_INSTALL_HINT if name.startswith("dask_cuda") else DASK_INSTALL_HINT
        raise _backend.BackendUnavailableError(f"{name} is not available ({exc}): {hint}") from exc


class Cluster:
    """A Dask client and, when this process started it, the local cluster behind it.

    Use as a context manager: on exit the client is closed and a cluster started by
    :func:`cluster` is shut down (a remote scheduler given by address is left running). While
    open, the client is Dask's default scheduler, so every ``gm.dist`` call runs on it.

    Attributes
    ----------
    client : distributed.Client
    local_cluster : distributed.LocalCluster or dask_cuda.LocalCUDACluster or None
    kind : {"cpu", "cuda", "address"}
    """

    def __init__(self, client: Any, local_cluster: Any, kind: str) -> None:
        self.client = client
        self.local_cluster = local_cluster
        self.kind = kind

    @property
    def n_workers(self) -> int:
        """Number of workers currently connected to the scheduler."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    @property
    def dashboard_link(self) -> str | None:
        """URL of the Dask dashboard, when one runs."""
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing or disabled)
            return None

    def close(self) -> None:
        """Close the client, then shut down the local cluster this object started."""
        self.client.close()
        if self.local_cluster is not None:
            self.local_cluster.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster(kind={self.kind!r}, n_workers={self.n_workers}, client={self.client!r})"


def _resolve_kind(kind: str) -> str:
    if kind not in ("auto", "cpu", "cuda"):
        raise ValueError(f"kind must be 'auto', 'cpu' or 'cuda', got {kind!r}")
    if kind != "auto":
        return kind
    if _backend.has_gpu() and importlib.util.find_spec("dask_cuda") is not None:
        return "cuda"
    return "cpu"


def cluster(
    kind: str = "auto",
    n_workers: int | None = None,
    address: str | None = None,
    *,
    processes: bool = False,
    threads_per_worker: int | None = None,
    timeout: float = 10.0,
    **kwargs: Any,
) -> Cluster:
    """Start a local Dask cluster, or connect to a running scheduler.

    Parameters
    ----------
    kind : {"auto", "cpu", "cuda"}
        "cuda": ``dask_cuda.LocalCUDACluster`` with one worker per visible GPU; "cpu":
        ``distributed.LocalCluster``; "auto": "cuda" when a GPU and dask-cuda work, else "cpu".
    n_workers : int, optional
        Number of workers (default: one per GPU for "cuda", Dask's choice for "cpu").
    address : str, optional
        Scheduler address (``tcp://host:8786``): connect to it instead of starting a cluster.
    processes : bool
        CPU workers as processes (True) or threads of this process (False, the default: no
        data copies between workers, and scripts need no ``if __name__ == "__main__"`` guard;
        NumPy's matrix products release the GIL).
    threads_per_worker : int, optional
        Threads per CPU worker (default 1 when ``n_workers`` is given).
    timeout : float
        Seconds to wait for the scheduler at ``address`` (connection and handshake).
    **kwargs
        Passed to the cluster class.

    Returns
    -------
    Cluster
        Context manager holding the client; closing it shuts down what this call started.

    Raises
    ------
    BackendUnavailableError
        When distributed (``pip install 'gpu_moa[dask]'``) or, for "cuda", dask-cuda
        (``pip install 'gpu_moa[dask-cuda]'``) or a GPU is missing.
    DataError
        When no Dask scheduler answers at ``address`` within ``timeout`` seconds (refused,
        unreachable, or something else listening there); the message names the address.
    """
    distributed = import_dask("distributed")
    if address is not None:
        return _connect(distributed, address, timeout)
    kind = _resolve_kind(kind)
    if kind == "cuda":
        dask_cuda = import_dask("dask_cuda")
        _backend.resolve_device("gpu")  # raises with the CuPy install hint when no GPU works
        local = dask_cuda.LocalCUDACluster(n_workers=n_workers, **kwargs)
    else:
        if n_workers is not None and threads_per_worker is None:
            threads_per_worker = 1
        local = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            **kwargs,
        )
    try:
        client = distributed.Client(local)
    except Exception:
        local.close()
        raise
    logger.info("dask: started %s with %d worker(s)", type(local).__name__, len(local.workers))
    return Cluster(client, local, kind)


async def _probe(distributed: ModuleType, address: str, timeout: float) -> None:
    """Ask ``address`` for its identity, all within ``timeout`` seconds: something that is not a
    Dask scheduler (an HTTP server, a silent or garbling peer) fails here, never hangs."""

    async def ask() -> None:
        comm = await distributed.comm.connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            reply = await comm.read()
        finally:
            comm.abort()
        if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
            raise OSError(f"the peer answered {str(reply)[:80]!r}, not as a Dask scheduler")

    await asyncio.wait_for(ask(), timeout)


def _connect(distributed: ModuleType, address: str, timeout: float) -> Cluster:
    """A :class:`Cluster` on the scheduler at ``address``; every failure a :class:`DataError`."""
    from gpu_moa._validation import data_error

    logger.info("dask: connecting to the scheduler at %s (timeout %g s)", address, timeout)
    try:
        with ThreadPoolExecutor(1) as pool:  # its own event loop, also under a running one
            pool.submit(asyncio.run, _probe(distributed, address, timeout)).result()
        client = distributed.Client(address, timeout=timeout)
    except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - any failure, one message
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}"
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise data_error(
            f"Dask scheduler {address}",
            f"no Dask scheduler answered there within {timeout:g} s ({detail})",
            "check the address and port of a running `dask scheduler` (it prints its tcp:// "
            "address; the dashboard port, usually 8787, is not it) and that this machine can "
            "reach it, or raise --cluster-timeout",
        ) from None
    return Cluster(client, None, "address")


def current_client() -> Any:
    """The active distributed client, or None when Dask uses its local schedulers."""
    import sys

    if "distributed" not in sys.modules:
        return None
    distributed = sys.modules["distributed"]
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _tqdm_callback(desc: str) -> Any:
    """A dask.callbacks.Callback driving a tqdm bar over the tasks of a local computation."""
    from dask.callbacks import Callback
    from tqdm.auto import tqdm

    class TqdmCallback(Callback):
        def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
            total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self._bar = tqdm(total=total, desc=desc, unit="task", leave=False)

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            self._bar.update(1)

        def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
            self._bar.close()

    return TqdmCallback()


def compute(*collections: Any, desc: str = "dask") -> tuple[Any, ...]:
    """Compute Dask collections on the active client (or the local scheduler) with a progress bar.

    The bar follows the Dask tasks: ``distributed.progress`` on a cluster, a tqdm bar with the
    local schedulers; ``gm.settings.progress = False`` (or ``--quiet``) turns it off.

    Parameters
    ----------
    *collections : dask collections
        What to compute (arrays, delayed objects...).
    desc : str
        Label of the local progress bar.

    Returns
    -------
    tuple
        One computed result per collection.
    """
    dask = import_dask("dask")
    client = current_client()
    if client is not None:
        futures = client.compute(list(collections))
        if settings.progress:
            import_dask("distributed").progress(futures, notebook=False)
        return tuple(client.gather(futures))
    with _tqdm_callback(desc) if settings.progress else nullcontext():
        return dask.compute(*collections)
