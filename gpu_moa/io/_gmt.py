"""Gene-set files: GMT (one set per line) and GRP (one gene per line), as CMap and MSigDB write them.

GMT: each line is ``name<TAB>description<TAB>gene<TAB>gene...``; blank lines are skipped, empty
trailing fields (a tab at the end of the line) are ignored. GRP: one member per line; lines
starting with ``#`` are comments. Members are kept as text (symbols, Entrez ids or probe ids).
"""

from __future__ import annotations

from pathlib import Path

from gpu_moa._validation import data_error


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise data_error(str(path), "file not found", "check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise data_error(
            str(path),
            f"not UTF-8 text (byte {exc.start})",
            "pass a GMT/GRP text file (tab-separated gene sets)",
        ) from None
    return text.splitlines()


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read a GMT file of gene sets.

    Parameters
    ----------
    path : str or Path
        Tab-separated text: set name, description, then the members.

    Returns
    -------
    dict of str -> list of str
        The members of each set, in file order (duplicate members within a set are kept once).

    Raises
    ------
    DataError
        For a missing or non-text file, a line with fewer than three fields, a set without
        members, a repeated set name, or a file without any set; the message names the line.
    """
    path = Path(path)
    sets: dict[str, list[str]] = {}
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        name = fields[0].strip()
        members = [m.strip() for m in fields[2:] if m.strip()]
        where = f"{path}, line {number}"
        if len(fields) < 3 or not name:
            raise data_error(
                where,
                f"expected 'name<TAB>description<TAB>gene...', got {len(fields)} field(s)",
                "separate the fields with tabs (not spaces) and give the set a name",
            )
        if not members:
            raise data_error(where, f"gene set {name!r} has no members", "remove the line")
        if name in sets:
            raise data_error(where, f"gene set {name!r} appears twice", "give each set a name")
        sets[name] = list(dict.fromkeys(members))
    if not sets:
        raise data_error(str(path), "no gene set found", "pass a non-empty GMT file")
    return sets


def read_grp(path: str | Path) -> list[str]:
    """Read a GRP file: one gene set, one member per line.

    Parameters
    ----------
    path : str or Path
        Text file with one gene (symbol, Entrez id or probe id) per line; ``#`` starts a comment.

    Returns
    -------
    list of str
        The members in file order, each once.

    Raises
    ------
    DataError
        For a missing or non-text file, or a file without members.
    """
    path = Path(path)
    members = [ln.strip() for ln in _lines(path) if ln.strip() and not ln.startswith("#")]
    if not members:
        raise data_error(str(path), "no gene found", "list one gene per line")
    return list(dict.fromkeys(members))
