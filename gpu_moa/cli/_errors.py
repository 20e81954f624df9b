"""Usage errors found after parsing: reported the way argparse reports its own (exit status 2)."""

from __future__ import annotations

import sys
from typing import NoReturn


def usage_error(message: str) -> NoReturn:
    """Print ``message`` (``"gpu-moa COMMAND: error: ..."``) to stderr and exit with status 2.

    Parameters
    ----------
    message : str
        The complete message, naming the command, the option and the fix.

    Raises
    ------
    SystemExit
        With code 2, as argparse does for a bad option.
    """
    print(message, file=sys.stderr)
    raise SystemExit(2)
