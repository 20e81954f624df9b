"""GMT/GRP gene-set readers: the real CMap query sets, hand-written files and every documented error."""

from __future__ import annotations

from pathlib import Path

import pytest

import gpu_moa as gm
from gpu_moa._validation import DataError

REAL_GMT = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "l1000_query_up.gmt"


@pytest.mark.skipif(not REAL_GMT.is_file(), reason="../shared/realdata is not here")
def test_real_gmt():
    sets = gm.io.read_gmt(REAL_GMT)
    lines = [ln.split("\t") for ln in REAL_GMT.read_text().splitlines() if ln.strip()]
    assert list(sets) == [f[0] for f in lines]
    first = [g for g in lines[0][2:] if g.strip()]
    assert sets["HDAC_GLASER_UP"] == first and first[0] == "202284_s_at"


def test_gmt_and_grp_by_hand(tmp_path):
    path = tmp_path / "q.gmt"
    path.write_text("A\tdesc\tTP53\tMYC\tTP53\t\n\nB\t\t7157\r\n")
    assert gm.io.read_gmt(path) == {"A": ["TP53", "MYC"], "B": ["7157"]}
    grp = tmp_path / "q.grp"
    grp.write_text("# a comment\nTP53\n\n MYC \nTP53\n")
    assert gm.io.read_grp(grp) == ["TP53", "MYC"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A desc TP53 MYC\n", "line 1: expected 'name<TAB>description<TAB>gene"),
        ("A\tdesc\t\t\n", "line 1: gene set 'A' has no members"),
        ("A\td\tX\nA\td\tY\n", "line 2: gene set 'A' appears twice"),
        ("\n\n", "no gene set found"),
    ],
)
def test_gmt_errors(tmp_path, text, message):
    path = tmp_path / "bad.gmt"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        gm.io.read_gmt(path)


def test_grp_and_file_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        gm.io.read_gmt(tmp_path / "missing.gmt")
    binary = tmp_path / "bin.gmt"
    binary.write_bytes(b"\xff\xfe\x00A")
    with pytest.raises(DataError, match="not UTF-8 text"):
        gm.io.read_gmt(binary)
    empty = tmp_path / "empty.grp"
    empty.write_text("# only a comment\n")
    with pytest.raises(DataError, match="no gene found"):
        gm.io.read_grp(empty)
