"""The ``gpu-moa`` entry point: the common options and the dispatch to the sub-commands.

Each sub-command module in :mod:`gpu_moa.cli` defines ``register(subparsers, parents)`` which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status. Data errors,
missing backends and file-system errors print their message (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from gpu_moa._atomic import check_file_target
from gpu_moa._backend import BackendUnavailableError
from gpu_moa._settings import env_device_problem, settings
from gpu_moa._validation import DataError
from gpu_moa.cli import connect, evaluate, match, predict, run, synth, train, validate
from gpu_moa.cli._allocator import reuse_freed_memory


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--device",
        choices=["auto", "cpu", "gpu"],
        default=None,
        help="where to compute (default: $GPU_MOA_DEVICE or auto)",
    )
    common.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered sub-command."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="gpu-moa",
        description="GPU-accelerated drug mechanism-of-action profiling (lish-moa, L1000/CMap).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (connect, evaluate, match, predict, run, synth, train, validate):
        command.register(sub, [common])
    return parser


#: the options naming output files, per command (directory outputs are checked by atomic_dir)
FILE_OUTPUTS = {
    "match": ("out",),
    "connect": ("out",),
    "evaluate": ("out", "map_out"),
    "predict": ("out",),
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every output being written is rolled back."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gpu-moa``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def console_main() -> int:
    """The installed ``gpu-moa`` command: :func:`main` in a process of its own, whose freed
    arrays' memory is kept for the next arrays (:func:`~gpu_moa.cli._allocator.reuse_freed_memory`;
    the process exits when the command is done) and whose report figures render in a helper
    process (``settings.figure_process``: the command's main module starts nothing on import)."""
    reuse_freed_memory()
    settings.figure_process = True
    return main()


def _dispatch(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {}
    if args.quiet:
        changes.update(progress=False, verbosity=0)
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.device is not None:
        changes["device"] = args.device
    elif env_device_problem() is not None:  # e.g. GPU_MOA_DEVICE=tpu: never run elsewhere silently
        print(f"gpu-moa {args.command}: error: {env_device_problem()}", file=sys.stderr)
        return 2
    with settings.override(**changes):
        try:
            for name in FILE_OUTPUTS.get(args.command, ()):  # fail before computing, not after
                if getattr(args, name, None):
                    check_file_target(getattr(args, name))
            return int(args.func(args) or 0)
        except (DataError, BackendUnavailableError) as exc:
            print(f"gpu-moa {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # unreadable input, unwritable output, full disk
            where = f" {exc.filename}" if exc.filename else ""
            print(
                f"gpu-moa {args.command}: error:{where}: {exc.strerror or exc}. Fix: check that "
                "the path exists and is readable/writable, and that the disk has space",
                file=sys.stderr,
            )
            return 2
        except KeyboardInterrupt as exc:
            name = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
            print(
                f"gpu-moa {args.command}: interrupted ({name}); outputs are written whole at the "
                "end, so the previous ones were left unchanged and nothing partial was written",
                file=sys.stderr,
            )
            return 143 if isinstance(exc, _Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
