"""Signal model of the synthetic lish-moa set: pathways, MoA signatures, viability, noise.

Genes load on ``N_PATHWAYS`` shared latent pathways; each MoA is a sparse combination of
pathways plus a few MoA-specific genes (agonist/antagonist and inhibitor/activator pairs share
their pathways with opposite signs); MoAs acting on what cancer cell lines have (kinases, nuclear
receptors, cytotoxic targets) have strong signatures, neuronal receptors, ion channels and
anti-infectives weak ones. A drug responds with its MoAs' signatures scaled by its own
activity (many drugs are nearly inactive at the tested doses), a drug-specific deviation and an
off-target effect. Cytotoxic MoAs lower the viability of all 100 cell lines, each line with its own
sensitivity; dose (D2 > D1) and time (72 h > 48 h > 24 h) scale the effects; replicate noise is
Student-t; controls vary least; everything is clipped to [-10, 10].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

N_PATHWAYS = 50
#: MoAs that kill cells (viability towards -10) and those that slow them down
CYTOTOXIC_STRONG = (
    "proteasome_inhibitor",
    "hsp_inhibitor",
    "tubulin_inhibitor",
    "cdk_inhibitor",
    "topoisomerase_inhibitor",
    "hdac_inhibitor",
    "plk_inhibitor",
    "aurora_kinase_inhibitor",
    "protein_synthesis_inhibitor",
    "rna_polymerase_inhibitor",
    "atpase_inhibitor",
    "na_k-atpase_inhibitor",
    "nampt_inhibitor",
)
CYTOTOXIC_MODERATE = (
    "nfkb_inhibitor",
    "dna_inhibitor",
    "mtor_inhibitor",
    "chk_inhibitor",
    "atr_kinase_inhibitor",
    "bcl_inhibitor",
    "mdm_inhibitor",
    "thymidylate_synthase_inhibitor",
    "dihydrofolate_reductase_inhibitor",
    "dna_alkylating_agent",
    "bromodomain_inhibitor",
    "apoptosis_stimulant",
    "dna_synthesis_inhibitor",
    "dna_polymerase_inhibitor",
    "pi3k_inhibitor",
)
#: MoA classes whose signatures are strong in cancer cell lines (kinases, nuclear receptors, ...)
#: and weak ones (neuronal receptors, ion channels, anti-infectives: targets these cells lack)
STRONG_CLASS = re.compile(
    r"kinase|egfr|raf_|mek_|mtor|pi3k|akt_|jak_|src_|flt3|kit_|pdgfr|vegfr|abl_|erbb|igf-1|fgfr|"
    r"alk_|syk_|btk_|hmgcr|glucocorticoid|hdac|bromodomain|parp|ezh2|tyrosine|retinoid|estrogen|"
    r"progesterone|androgen"
)
WEAK_CLASS = re.compile(
    r"adrenergic|dopamine|serotonin|histamine|acetylcholine|opioid|cannabinoid|gaba|glutamate|"
    r"adenosine|prostaglandin|prostanoid|channel|benzodiazepine|sigma_|muscarinic|nicotinic|"
    r"anesthetic|antibiotic|antifungal|antiviral|antimalarial|bacterial|anticonvulsant|"
    r"antipsychotic|antidepressant|melatonin|orexin|vasopressin|trpv|tachykinin|leukotriene|"
    r"angiotensin|bradykinin|neuropeptide|oxytocin|purinergic|antiarrhythmic|diuretic|"
    r"antihistamine|calcium|sodium|potassium|chloride"
)
CLASS_GAIN = {"strong": 1.6, "weak": 0.4, "other": 1.0}
#: cell-cycle genes that fall when cells stop dividing (the proliferation pathway)
PROLIFERATION_GENES = ("CCNA2", "BUB1B", "CDC20", "PLK1", "AURKA", "TOP2A", "CCNE2", "MCM3")
#: named marker genes of a few MoAs (+1 up, -1 down)
MARKERS = {
    "proteasome_inhibitor": {"HSPA1A": 1, "PSMD2": 1, "PSMD4": 1, "PSMB8": 1, "PSME2": 1},
    "hsp_inhibitor": {"HSPA1A": 1, "HSPA4": 1, "HSPA8": 1},
    "nfkb_inhibitor": {"NFKBIA": -1, "NFKB2": -1, "NFKBIE": -1},
    "hdac_inhibitor": {"HDAC6": -1},
}
DOSE_GAIN = {"D1": 0.7, "D2": 1.0}
TIME_GAIN = {24: 0.75, 48: 0.9, 72: 1.0}
TIME_TOXICITY = {24: 0.55, 48: 0.8, 72: 1.0}


@dataclass(frozen=True)
class SignalParams:
    """Knobs of the signal model (the defaults are calibrated to the real data's difficulty)."""

    moa_strength: float = 0.35  # median MoA signature RMS in gene space (noise RMS ~1)
    moa_strength_sd: float = 0.6  # log-normal spread of MoA strengths
    p_inactive: float = 0.35  # share of drugs that barely respond
    drug_deviation: float = 0.8  # drug-specific deviation around its MoA signature(s)
    off_target: float = 0.4  # median off-target effect of every treated drug
    gene_noise: float = 1.0
    cell_noise: float = 0.5
    control_noise: float = 0.6  # noise multiplier of vehicle controls
    noise_df: float = 3.0  # Student-t degrees of freedom of the replicate noise
    shared_noise: float = 0.08  # per-pathway noise shared by the genes loading on it
    toxicity_strong: float = 10.0
    toxicity_moderate: float = 2.0


def _unit_rms(a: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(a * a, axis=-1, keepdims=True))
    return a / np.maximum(rms, 1e-12)


def _student_t(rng: np.random.Generator, shape: tuple[int, ...], df: float) -> np.ndarray:
    """Unit-variance Student-t noise in float32 (normal over a chi-square)."""
    z = rng.standard_normal(shape, dtype=np.float32)
    chi = rng.standard_gamma(df / 2, shape, dtype=np.float32)
    z *= np.sqrt((df - 2) / 2 / np.maximum(chi, 1e-6)).astype(np.float32)
    return z


def moa_class(name: str) -> str:
    """ "strong", "weak" or "other": how visible a MoA is in cancer cell lines (by its name)."""
    if name in CYTOTOXIC_STRONG or name in CYTOTOXIC_MODERATE or STRONG_CLASS.search(name):
        return "strong"
    return "weak" if WEAK_CLASS.search(name) else "other"


def _partner(name: str) -> str | None:
    """The label with the opposite action (agonist <-> antagonist, inhibitor <-> activator)."""
    for a, b in (("_agonist", "_antagonist"), ("_activator", "_inhibitor")):
        if name.endswith(b):
            return name[: -len(b)] + a
    return None


def make_truth(
    rng: np.random.Generator,
    labels: list[str],
    symbols: list[str],
    n_cells: int,
    params: SignalParams,
) -> dict:
    """Draw the planted truth: pathway loadings, MoA signatures, toxicities, line sensitivities.

    Parameters
    ----------
    rng : numpy.random.Generator
    labels : list of str
        All MoA names (scored then non-scored).
    symbols : list of str
        Gene symbols of the gene features.
    n_cells : int
        Number of cell-viability features.
    params : SignalParams

    Returns
    -------
    dict
        ``pathway_loadings`` (pathways x genes), ``moa_pathways`` (MoAs x pathways),
        ``moa_signatures`` (MoAs x genes, unit RMS), ``moa_strength``, ``moa_toxicity``,
        ``cell_sensitivity`` (lines), ``moa_cell_sensitivity`` (MoAs x lines),
        ``proliferation`` (genes), ``cytotoxic_moas``.
    """
    n_genes, n_moa = len(symbols), len(labels)
    W = rng.standard_normal((N_PATHWAYS, n_genes)) * (rng.random((N_PATHWAYS, n_genes)) < 0.12)
    prolif = -0.2 * np.abs(rng.standard_normal(n_genes)) * (rng.random(n_genes) < 0.15)
    prolif[np.isin(symbols, PROLIFERATION_GENES)] = -2.0
    W[0] = prolif
    U = rng.standard_normal((n_moa, N_PATHWAYS))
    U *= rng.random((n_moa, N_PATHWAYS)) < (2.0 / N_PATHWAYS)
    U[np.arange(n_moa), 1 + rng.integers(0, N_PATHWAYS - 1, n_moa)] = rng.standard_normal(n_moa)
    U[:, 0] = 0.0
    index = {name: i for i, name in enumerate(labels)}
    for i, name in enumerate(labels):
        j = index.get(_partner(name) or "")
        if j is not None:
            U[j] = -U[i]
    direct = rng.standard_normal((n_moa, n_genes)) * (rng.random((n_moa, n_genes)) < 0.03)
    gene_pos = {s: g for g, s in enumerate(symbols)}
    for name, marks in MARKERS.items():
        for sym, sign in marks.items():
            if name in index and sym in gene_pos:
                direct[index[name], gene_pos[sym]] = 4.0 * sign
    S = _unit_rms(0.8 * _unit_rms(U @ W) + 0.6 * _unit_rms(direct))
    strength = params.moa_strength * np.exp(params.moa_strength_sd * rng.standard_normal(n_moa))
    strength *= [CLASS_GAIN[moa_class(name)] for name in labels]
    tox = np.zeros(n_moa)
    for names, level in (
        (CYTOTOXIC_STRONG, params.toxicity_strong),
        (CYTOTOXIC_MODERATE, params.toxicity_moderate),
    ):
        hit = np.isin(labels, names)
        tox[hit] = level * np.exp(0.3 * rng.standard_normal(int(hit.sum())))
    sens = np.exp(0.3 * rng.standard_normal(n_cells))
    moa_sens = sens * np.exp(0.25 * rng.standard_normal((n_moa, n_cells)))
    f32 = np.float32
    return {
        "pathway_loadings": W.astype(f32),
        "moa_pathways": U.astype(f32),
        "moa_signatures": S.astype(f32),
        "moa_strength": strength.astype(f32),
        "moa_toxicity": tox.astype(f32),
        "cell_sensitivity": sens.astype(f32),
        "moa_cell_sensitivity": moa_sens.astype(f32),
        "proliferation": prolif.astype(f32),
        "cytotoxic_moas": [n for n in labels if tox[index[n]] > 0],
    }


def _drug_effects(
    rng: np.random.Generator, moa: np.ndarray, truth: dict, params: SignalParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gene response, toxicity, line sensitivities and activity of every drug (row 0: vehicle)."""
    n_drugs = moa.shape[0]
    W, S = truth["pathway_loadings"], truth["moa_signatures"]
    n_genes = W.shape[1]
    active = rng.random(n_drugs) >= params.p_inactive
    activity = np.where(
        active, np.exp(0.4 * rng.standard_normal(n_drugs)), 0.1 * rng.random(n_drugs)
    )
    weights = moa * truth["moa_strength"]
    own = weights @ S
    size = np.sqrt(np.sum(weights * weights, axis=1, keepdims=True))
    dev = _unit_rms(
        rng.standard_normal((n_drugs, N_PATHWAYS)) @ W + rng.standard_normal((n_drugs, n_genes))
    )
    pathways = rng.standard_normal((n_drugs, N_PATHWAYS)) * (
        rng.random((n_drugs, N_PATHWAYS)) < 0.06
    )
    off = _unit_rms(pathways @ W + 0.5 * rng.standard_normal((n_drugs, n_genes)))
    off *= params.off_target * np.exp(0.5 * rng.standard_normal((n_drugs, 1)))
    genes = activity[:, None] * (own + params.drug_deviation * size * dev) + off
    tox_moa = moa * truth["moa_toxicity"]
    main = np.argmax(tox_moa, axis=1)
    tox = activity * tox_moa[np.arange(n_drugs), main]
    tox += rng.exponential(0.15, n_drugs) + (rng.random(n_drugs) < 0.03) * 3.0 * activity
    sens = np.where(
        (tox_moa.max(axis=1) > 0)[:, None],
        truth["moa_cell_sensitivity"][main],
        truth["cell_sensitivity"][None, :],
    )
    genes[0], tox[0], activity[0] = 0.0, 0.0, 0.0
    return genes.astype(np.float32), tox.astype(np.float32), sens.astype(np.float32), activity


def simulate(
    rng: np.random.Generator,
    obs: pd.DataFrame,
    row_drug: np.ndarray,
    moa: np.ndarray,
    truth: dict,
    params: SignalParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Features (rows x genes+cells, float32, clipped to [-10, 10]) and per-drug effect sizes.

    Parameters
    ----------
    rng : numpy.random.Generator
    obs : pandas.DataFrame
        cp_time and cp_dose per row.
    row_drug : numpy.ndarray
        Drug index of each row (0 = vehicle control).
    moa : numpy.ndarray
        Drugs x MoAs 0/1 matrix (all labels, in ``truth`` order).
    truth : dict
        From :func:`make_truth`.
    params : SignalParams

    Returns
    -------
    X : numpy.ndarray
    drug_effects : pandas.DataFrame
        ``activity``, ``toxicity`` and ``gene_effect_rms`` per drug.
    """
    genes, tox, sens, activity = _drug_effects(rng, moa.astype(np.float32), truth, params)
    n, n_genes, n_cells = len(row_drug), genes.shape[1], sens.shape[1]
    dose = obs["cp_dose"].map(DOSE_GAIN).to_numpy(np.float32)
    time = obs["cp_time"].to_numpy()
    jitter = 1 + 0.15 * rng.standard_normal(n, dtype=np.float32)
    gain = dose * pd.Series(time).map(TIME_GAIN).to_numpy(np.float32) * jitter
    row_tox = tox[row_drug] * dose * pd.Series(time).map(TIME_TOXICITY).to_numpy(np.float32)
    row_tox *= 1 + 0.2 * rng.standard_normal(n, dtype=np.float32)
    noise = np.where(row_drug == 0, params.control_noise, 1.0).astype(np.float32)[:, None]
    W = truth["pathway_loadings"]
    X = np.empty((n, n_genes + n_cells), dtype=np.float32)
    g = X[:, :n_genes]
    g[:] = _student_t(rng, (n, n_genes), params.noise_df)
    g *= params.gene_noise * np.exp(0.2 * rng.standard_normal(n_genes)).astype(np.float32)
    g += params.shared_noise * rng.standard_normal((n, N_PATHWAYS), dtype=np.float32) @ _unit_rms(W)
    g *= noise
    g += gain[:, None] * genes[row_drug]
    g += 0.6 * row_tox[:, None] * truth["proliferation"][None, :]
    c = X[:, n_genes:]
    c[:] = _student_t(rng, (n, n_cells), params.noise_df) * params.cell_noise
    c += 0.3 * rng.standard_normal((n, 1), dtype=np.float32)
    c *= noise
    c -= row_tox[:, None] * sens[row_drug]
    np.clip(X, -10, 10, out=X)
    effects = pd.DataFrame(
        {
            "activity": activity,
            "toxicity": tox,
            "gene_effect_rms": np.sqrt(np.mean(genes * genes, axis=1)),
        }
    )
    return X, effects
