"""Command-line options for running a command on a Dask cluster (``--cluster``, ``--partitions``)."""

from __future__ import annotations

import argparse
import functools
import math
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from gpu_moa.dist._cluster import Cluster, cluster


def positive_int(text: str) -> int:
    """Parse a positive integer (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


#: ``--cluster`` values that start a local cluster
KINDS = ("auto", "cpu", "cuda")
#: address schemes of Dask's comms
SCHEMES = ("tcp", "tls", "ucx", "inproc", "ws", "wss")


def cluster_spec(text: str) -> str:
    """Parse ``--cluster``: a kind (auto, cpu, cuda) or a scheduler address [SCHEME://]HOST:PORT."""
    if text in KINDS:
        return text
    scheme, sep, rest = text.partition("://") if "://" in text else ("tcp", "", text)
    host, colon, port = rest.rpartition(":")
    valid_host = bool(host) and "/" not in host and colon and port.isdigit()
    if scheme in SCHEMES and (scheme == "inproc" or valid_host):
        return text
    raise argparse.ArgumentTypeError(
        f"expected auto, cpu, cuda or a scheduler address such as tcp://HOST:8786, got {text!r}"
    )


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cluster auto|cpu|cuda|ADDRESS`` and ``--partitions N`` to a sub-command's parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser; the options go into a "Dask (scale-out)" group.
    """
    group = parser.add_argument_group("Dask (scale-out)")
    group.add_argument(
        "--cluster",
        type=cluster_spec,
        default=None,
        metavar="auto|cpu|cuda|ADDRESS",
        help=(
            "run the partitioned engine on Dask: 'cpu' a local CPU cluster, 'cuda' one worker per "
            "GPU (dask-cuda), 'auto' cuda when possible, or a scheduler address such as "
            "tcp://host:8786 (default: no Dask, one device)"
        ),
    )
    group.add_argument(
        "--partitions",
        type=positive_int,
        default=None,
        metavar="N",
        help="row partitions per matrix on the cluster (default: 2 per worker; at most one per row)",
    )
    group.add_argument(
        "--cluster-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the scheduler of --cluster ADDRESS (default: 10)",
    )


def cluster_from_args(args: argparse.Namespace) -> AbstractContextManager[Cluster | None]:
    """A context manager giving the :class:`Cluster` asked for by ``--cluster``, or None.

    The cluster started here is shut down on exit.
    """
    spec = getattr(args, "cluster", None)
    if spec is None:
        return nullcontext(None)
    if spec in KINDS:
        return cluster(spec)
    return cluster(address=spec, timeout=getattr(args, "cluster_timeout", 10.0))


def chunk_rows_for(n_rows: int, args_or_partitions: Any, c: Cluster | None = None) -> int | None:
    """Rows per partition for ``n_rows`` rows and ``--partitions`` (or an int).

    Parameters
    ----------
    n_rows : int
        Rows of the matrix to partition.
    args_or_partitions : argparse.Namespace or int or None
        Parsed arguments (their ``partitions``) or the partition count itself.
    c : Cluster, optional
        The running cluster; without a partition count, two partitions per worker.

    Returns
    -------
    int or None
        Rows per partition, or None (Dask's choice) without a count or a cluster.
    """
    partitions = getattr(args_or_partitions, "partitions", args_or_partitions)
    if partitions is None and c is not None:
        partitions = 2 * max(c.n_workers, 1)
    if partitions is None:
        return None
    if int(partitions) > n_rows > 0:
        print(
            f"gpu-moa: note: {partitions} partitions for {n_rows} rows; using {n_rows} (one row each)",
            file=sys.stderr,
        )
        partitions = n_rows
    return max(1, math.ceil(n_rows / int(partitions)))


def search_from_args(args: argparse.Namespace, c: Cluster | None, n_reference: int) -> Any:
    """The similarity search for ``--cluster``/``--partitions``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with ``partitions``.
    c : Cluster or None
        The cluster from :func:`cluster_from_args`.
    n_reference : int
        Rows of the reference, to size the partitions.

    Returns
    -------
    callable or None
        None (single device) without Dask options, else :func:`gpu_moa.dist.similarity_topk`
        with ``chunk_rows`` set.
    """
    if c is None and getattr(args, "partitions", None) is None:
        return None
    from gpu_moa.dist._similarity import similarity_topk

    return functools.partial(similarity_topk, chunk_rows=chunk_rows_for(n_reference, args, c))
