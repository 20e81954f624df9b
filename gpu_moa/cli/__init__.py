"""The ``gpu-moa`` command line: :func:`main` and one module per sub-command.

``match``, ``predict``, ``run``, ``synth``, ``train`` and ``validate`` each define
``register(subparsers, parents)``; ``_cluster`` holds the ``--cluster``/``--partitions`` options
shared by the commands that can run on Dask.
"""

from gpu_moa.cli._main import build_parser, console_main, main

__all__ = ["build_parser", "console_main", "main"]
