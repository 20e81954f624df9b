"""The ``gpu-moa`` command line: :func:`main` and one module per sub-command.

``match``, ``predict``, ``run``, ``synth``, ``train`` and ``validate`` each define
``register(subparsers, parents)``; ``_cluster`` holds the ``--cluster``/``--partitions`` options
shared by the commands that can run on Dask; ``_allocator`` the host-memory setting that
:func:`console_main` (the installed command) applies before :func:`main`.
"""

from gpu_moa.cli._main import build_parser, console_main, main

__all__ = ["build_parser", "console_main", "main"]
