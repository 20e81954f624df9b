"""Reliability: bad Dask addresses end in a bounded exit-2 message naming the address."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

import gpu_moa as gm
from gpu_moa import cli
from gpu_moa.cli import _cluster

pytest.importorskip("distributed")


def _refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def fake_server():
    """Start a local TCP server that stays silent, sends junk, or speaks HTTP; yield its port."""
    closers = []

    def start(kind: str) -> int:
        if kind == "http":
            srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            closers.extend([srv.shutdown, srv.server_close])
            return srv.server_address[1]
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        conns = []

        def serve():
            while True:
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                conns.append(c)
                if kind == "junk":
                    c.sendall(b"\xff" * 64)

        threading.Thread(target=serve, daemon=True).start()
        closers.append(lambda: [c.close() for c in [*conns, s]])
        return s.getsockname()[1]

    yield start
    for close in closers:
        close()


@pytest.mark.parametrize("kind", ["silent", "junk", "http"])
def test_non_scheduler_peers_fail_fast_naming_the_address(fake_server, kind):
    address = f"tcp://127.0.0.1:{fake_server(kind)}"
    start = time.monotonic()
    with pytest.raises(gm.DataError, match="no Dask scheduler answered") as err:
        gm.dist.cluster(address=address, timeout=1)
    assert time.monotonic() - start < 8
    assert address in str(err.value) and "--cluster-timeout" in str(err.value)


def test_cli_refused_address_is_exit_2_and_writes_nothing(tiny_lish_moa, tmp_path, capsys):
    train, test = tiny_lish_moa
    gm.io.write_lish_moa(train, tmp_path / "data", test=test)
    address = f"tcp://127.0.0.1:{_refused_port()}"
    out = tmp_path / "model"
    argv = ["train", "--quiet", str(tmp_path / "data"), "--out", str(out), "--C", "0.01"]
    argv += ["--model", "logistic", "--folds", "0", "--cluster", address, "--cluster-timeout", "1"]
    start = time.monotonic()
    assert cli.main(argv) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert address in err and "Traceback" not in err and "disk" not in err
    assert not out.exists() and not list(tmp_path.glob(".model.*"))


@pytest.mark.parametrize("bad", ["foo", "tcp://host", "http//x:1", "tcp://h:port"])
def test_cluster_option_rejects_what_is_no_address(bad, capsys):
    with pytest.raises(SystemExit) as ext:
        cli.build_parser().parse_args(["train", "--out", "m", "--cluster", bad])
    assert ext.value.code == 2
    assert "scheduler address such as tcp://HOST:8786" in capsys.readouterr().err
    for good in ("cpu", "tcp://10.0.0.1:8786", "127.0.0.1:8786", "tls://h.example:1"):
        assert _cluster.cluster_spec(good) == good


def test_partitions_are_capped_at_the_rows_with_a_note(capsys):
    assert _cluster.chunk_rows_for(5, 5000) == 1
    assert "5000 partitions for 5 rows; using 5" in capsys.readouterr().err
    assert _cluster.chunk_rows_for(100, 3) == 34 and capsys.readouterr().err == ""
