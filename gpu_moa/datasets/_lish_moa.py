"""make_lish_moa and the cached default data set (the Kaggle file layout)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from gpu_moa.datasets._design import N_TREATED_DRUGS, make_design
from gpu_moa.datasets._signal import SignalParams, make_truth, simulate
from gpu_moa.profiles import CONTROL_TYPE, Profiles, make_profiles

logger = logging.getLogger("gpu_moa")

VERSION = "lish-moa-synthetic-v1"
#: treated training drugs per preset (full: the real 3,288; small: ~2,000 rows in all)
PRESETS = {"full": N_TREATED_DRUGS, "small": 240}
_SPLITS = ("train", "test", "all")


def feature_table() -> pd.DataFrame:
    """The 872 lish-moa features (g-0..g-771, c-0..c-99) with kind, symbol, Entrez id, CCLE name.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature name, in the Kaggle column order.
    """
    data = resources.files("gpu_moa").joinpath("data")
    with data.joinpath("genes.csv").open("rb") as fh:
        genes = pd.read_csv(fh, dtype={"entrez_id": "Int64"})
    with data.joinpath("cells.csv").open("rb") as fh:
        cells = pd.read_csv(fh)
    var = pd.concat(
        [
            pd.DataFrame(
                {"kind": "gene", "symbol": genes["symbol"], "entrez_id": genes["entrez_id"]},
            ).set_index(genes["feature"]),
            pd.DataFrame({"kind": "cell", "ccle_name": cells["ccle_name"]}).set_index(
                cells["feature"]
            ),
        ]
    )
    var.index.name = "feature"
    return var[["kind", "symbol", "entrez_id", "ccle_name"]]


def make_lish_moa(
    *,
    preset: str = "full",
    n_drugs: int | None = None,
    split: str = "train",
    random_state: int = 0,
    signal_strength: float = 1.0,
    device: str | ModuleType | None = None,
) -> Profiles:
    """Generate a synthetic lish-moa data set with a known (planted) mechanism of action.

    Parameters
    ----------
    preset : {"full", "small"}
        "full" has the real set's size (23,814 training rows from 3,288 treated drugs plus 1,866
        vehicle controls, 3,982 test rows); "small" about 2,000 rows in all, for tests and demos.
    n_drugs : int, optional
        Treated drugs in the training split, overriding the preset; all counts scale with it.
    split : {"train", "test", "all"}
        Which rows to return. The test split holds other drugs than the training split (with
        their labels, so predictions can be scored); "all" returns both, ``obs["split"]`` tells.
    random_state : int
        Seed; the same seed gives identical arrays.
    signal_strength : float
        Multiplies every MoA signature and toxicity (1.0 is calibrated to the real data's
        difficulty: a label-frequency baseline scores ~0.020, a linear model ~0.016-0.017).
    device : str or array namespace, optional
        Where to put X and the labels ("cpu", "gpu", "auto"; default: ``gm.settings.device``).

    Returns
    -------
    Profiles
        float32 X (rows x 872), obs (cp_type, cp_time, cp_dose, drug_id, split), annotated var,
        Y (206 scored labels), Y_extra (402 non-scored), and ``uns["truth"]``: the planted truth
        (``drugs`` table with each drug's MoAs, activity and toxicity; ``drug_moas``;
        ``moa_signatures``; ``pathway_loadings``; ``moa_pathways``; ``moa_toxicity``;
        ``cytotoxic_moas``; ``cell_sensitivity``; ``control_drug_id``; parameters).

    Examples
    --------
    >>> import gpu_moa as gm
    >>> p = gm.datasets.make_lish_moa(preset="small", random_state=0)
    >>> p.n_vars, len(p.label_names)
    (872, 206)
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    n = PRESETS[preset] if n_drugs is None else int(n_drugs)
    if n < 10:
        raise ValueError(f"n_drugs must be at least 10, got {n_drugs!r}")
    seeds = np.random.SeedSequence(random_state).spawn(3)
    design = make_design(np.random.default_rng(seeds[0]), n)
    var = feature_table()
    labels = design.label_names + design.extra_label_names
    params = SignalParams()
    params = dataclasses.replace(
        params,
        moa_strength=params.moa_strength * signal_strength,
        toxicity_strong=params.toxicity_strong * signal_strength,
        toxicity_moderate=params.toxicity_moderate * signal_strength,
    )
    genes = var["kind"].to_numpy() == "gene"
    truth = make_truth(
        np.random.default_rng(seeds[1]),
        labels,
        var["symbol"][genes].astype(str).tolist(),
        int((~genes).sum()),
        params,
    )
    moa = np.hstack([design.drug_labels, design.drug_extra])
    X, effects = simulate(
        np.random.default_rng(seeds[2]), design.obs, design.row_drug, moa, truth, params
    )
    keep = np.ones(len(design.obs), bool) if split == "all" else design.obs["split"].eq(split)
    keep = np.asarray(keep)
    rows = design.row_drug[keep]
    return make_profiles(
        X[keep],
        design.obs[keep],
        var,
        Y=design.drug_labels[rows],
        label_names=design.label_names,
        Y_extra=design.drug_extra[rows],
        extra_label_names=design.extra_label_names,
        device=device,
        uns={"truth": _truth_record(design, truth, effects, var, labels, params, random_state)},
    )


def _truth_record(design, truth, effects, var, labels, params, random_state) -> dict:
    """The planted truth as pandas tables and plain Python values."""
    drug_ids = design.drugs["drug_id"].to_numpy()
    moa = np.hstack([design.drug_labels, design.drug_extra]).astype(bool)
    names = np.asarray(labels)
    drug_moas = {d: names[m].tolist() for d, m in zip(drug_ids, moa, strict=True)}
    drugs = pd.concat([design.drugs, effects], axis=1).set_index("drug_id")
    drugs["moas"] = ["|".join(drug_moas[d]) for d in drugs.index]
    drugs["cp_type"] = np.where(np.arange(len(drugs)) == 0, CONTROL_TYPE, "trt_cp")
    genes = var.index[var["kind"] == "gene"]
    cells = var.index[var["kind"] == "cell"]
    pathways = [f"pathway-{k}" for k in range(truth["pathway_loadings"].shape[0])]
    return {
        "version": VERSION,
        "random_state": random_state,
        "params": dataclasses.asdict(params),
        "control_drug_id": str(drug_ids[0]),
        "drugs": drugs,
        "drug_moas": drug_moas,
        "cytotoxic_moas": truth["cytotoxic_moas"],
        "moa_toxicity": pd.Series(truth["moa_toxicity"], index=labels),
        "moa_strength": pd.Series(truth["moa_strength"], index=labels),
        "moa_signatures": pd.DataFrame(truth["moa_signatures"], index=labels, columns=genes),
        "moa_pathways": pd.DataFrame(truth["moa_pathways"], index=labels, columns=pathways),
        "pathway_loadings": pd.DataFrame(truth["pathway_loadings"], index=pathways, columns=genes),
        "cell_sensitivity": pd.Series(truth["cell_sensitivity"], index=cells),
    }


def write_synthetic(
    out_dir: str | os.PathLike[str],
    *,
    preset: str = "full",
    random_state: int = 0,
    layout: str = "kaggle",
    compress: bool = False,
) -> dict[str, Path]:
    """Generate a synthetic set (train and test) and write it in the lish-moa file layout.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write into (created if needed); each file is written atomically.
    preset : {"full", "small"}
    random_state : int
    layout : {"kaggle", "annotated"}
        See :func:`gpu_moa.io.write_lish_moa`.
    compress : bool
        Write ``.csv.zip`` files.

    Returns
    -------
    dict of str -> Path
        The written files by role, plus ``"provenance"`` (``synthetic.json``: version, preset,
        seed).
    """
    from gpu_moa import io
    from gpu_moa._atomic import write_text_atomic

    p = make_lish_moa(preset=preset, split="all", random_state=random_state, device="cpu")
    is_train = p.obs["split"].to_numpy() == "train"
    files = io.write_lish_moa(
        p[is_train], out_dir, test=p[~is_train], layout=layout, compress=compress
    )
    meta = {
        "version": VERSION,
        "generator": _fingerprint(),
        "preset": preset,
        "random_state": random_state,
        "layout": layout,
    }
    files["provenance"] = write_text_atomic(Path(out_dir) / "synthetic.json", json.dumps(meta))
    return files


def _fingerprint() -> str:
    """Hash of the generator's code, so a cached set made by other code gets regenerated."""
    digest = hashlib.sha256(VERSION.encode())
    for module in ("_design.py", "_signal.py", "_lish_moa.py"):
        digest.update(resources.files("gpu_moa.datasets").joinpath(module).read_bytes())
    return digest.hexdigest()[:16]


def _is_current(path: Path) -> bool:
    try:
        meta = json.loads((path / "synthetic.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("generator") == _fingerprint()


def default_data_dir(preset: str = "full") -> Path:
    """The embedded default data set: a synthetic lish-moa directory (Kaggle layout, seed 0).

    Generated on first use under ``$GPU_MOA_DATA_DIR`` (when set) or ``~/.cache/gpu_moa``, in a
    sub-directory ``lish-moa-synthetic-v1-<preset>``, and again when the generator's code has
    changed since. The files are written into a temporary directory that is renamed into place
    when complete, so a crash or a concurrent first use never leaves a half-written set behind.

    Parameters
    ----------
    preset : {"full", "small"}

    Returns
    -------
    Path
        The directory, ready for :func:`gpu_moa.io.read_lish_moa`.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    root = Path(os.environ.get("GPU_MOA_DATA_DIR") or Path.home() / ".cache" / "gpu_moa")
    target = root / f"{VERSION}-{preset}"
    if _is_current(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=root))
    logger.info("generating the default synthetic data set (%s) into %s", preset, target)
    try:
        write_synthetic(tmp, preset=preset, random_state=0)
        with contextlib.suppress(FileNotFoundError):  # an older or incomplete set moves aside
            os.rename(target, stale / target.name)
        os.rename(tmp, target)
    except OSError:
        if not _is_current(target):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    return target
