"""MoaBlend and KnnVotes: weights against hand-made optima and a SciPy oracle, the kNN votes
against a plain loop, the out-of-fold plumbing against a loop over the folds, model files."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, clone

import gpu_moa as gm
from gpu_moa.metrics._folds import grouped_folds
from gpu_moa.models import KnnVotes, MoaBlend, MultilabelLogistic, TrainedModel, _blend_weights
from gpu_moa.models._blend_weights import (
    CLIP_GRID,
    choose_clip,
    label_losses,
    label_weights,
    loss_and_grad,
    simplex_weights,
)


class Columns(ClassifierMixin, BaseEstimator):
    """Test member: its 'probabilities' are columns ``start:start + width`` of X (row-wise, so
    its out-of-fold predictions are exactly those columns)."""

    def __init__(self, start: int = 0, width: int = 1) -> None:
        self.start = start
        self.width = width

    def fit(self, X, Y):
        self.classes_ = np.arange(Y.shape[1])
        return self

    def predict_proba(self, X):
        return X[:, self.start : self.start + self.width] * 1.0


def metric(Y: np.ndarray, P: np.ndarray) -> float:
    """The competition log loss written from its definition (per column, then the mean)."""
    P = np.clip(P, 1e-15, 1 - 1e-15)
    return float(np.mean(-(Y * np.log(P) + (1 - Y) * np.log(1 - P)), axis=0).mean())


def noisy(Y: np.ndarray, rng, scale: float) -> np.ndarray:
    """Probabilities of a member that knows ``Y`` up to Gaussian noise on the logit."""
    logit = np.where(Y > 0, 2.0, -3.0) + scale * rng.standard_normal(Y.shape)
    return 1 / (1 + np.exp(-logit))


def test_truth_gets_all_the_weight_and_noise_none(xp, rng):
    Y = (rng.random((300, 8)) < 0.2).astype(float)
    noise = rng.uniform(0.05, 0.95, Y.shape)
    members = [xp.asarray(noise), xp.asarray(Y.copy())]  # the second member is the truth
    w = simplex_weights(members, xp.asarray(Y))
    assert w[1] > 0.999 and w[0] < 1e-3 and w.sum() == pytest.approx(1.0)


def test_weights_equal_scipy_oracle_through_the_estimator(xp, rng):
    Y = (rng.random((400, 6)) < 0.15).astype(float)
    A, B = noisy(Y, rng, 2.0), noisy(Y, rng, 3.0)
    X = np.hstack([A, B])
    members = (Columns(0, 6), Columns(6, 6))
    groups = np.repeat(np.arange(100), 4)
    est = MoaBlend(members, cv=4, clip=False, per_label_shrinkage=None).fit(
        xp.asarray(X), xp.asarray(Y), groups=groups
    )
    oracle = minimize_scalar(
        lambda a: metric(Y, a * A + (1 - a) * B), bounds=(0, 1), method="bounded",
        options={"xatol": 1e-9},
    )  # fmt: skip
    assert est.weights_[0] == pytest.approx(oracle.x, abs=1e-3)
    assert est.oof_log_loss_["blend"] == pytest.approx(oracle.fun, rel=1e-7)
    assert est.oof_log_loss_["columns"] == pytest.approx(metric(Y, A), rel=1e-6)
    assert est.oof_log_loss_["columns_2"] == pytest.approx(metric(Y, B), rel=1e-6)
    P = gm.to_numpy(est.predict_proba(xp.asarray(X)))
    np.testing.assert_allclose(P, est.weights_[0] * A + est.weights_[1] * B, rtol=1e-5)


def test_three_members_match_scipy_on_the_simplex(rng):
    Y = (rng.random((500, 5)) < 0.2).astype(float)
    Ps = [noisy(Y, rng, s) for s in (1.5, 2.5, 4.0)]
    w = simplex_weights(Ps, Y)

    def f(v):
        v = np.abs(v) / np.abs(v).sum()
        return metric(Y, sum(vi * P for vi, P in zip(v, Ps, strict=True)))

    oracle = minimize(f, np.full(3, 1 / 3), method="Nelder-Mead", options={"xatol": 1e-8})
    best = np.abs(oracle.x) / np.abs(oracle.x).sum()
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert f(w) <= oracle.fun + 1e-9
    np.testing.assert_allclose(w, best, atol=2e-3)


def test_per_label_weights_follow_each_labels_better_member(xp, rng):
    Y = (rng.random((600, 2)) < 0.25).astype(float)
    good, bad = noisy(Y, rng, 0.3), rng.uniform(0.05, 0.95, Y.shape)
    A = np.column_stack([good[:, 0], bad[:, 1]])  # right on label 0 only
    B = np.column_stack([bad[:, 0], good[:, 1]])  # right on label 1 only
    own = label_weights([xp.asarray(A), xp.asarray(B)], xp.asarray(Y))
    np.testing.assert_allclose(own, [[1, 0], [0, 1]], atol=0.02)
    X, groups = np.hstack([A, B]), np.arange(600)
    est = MoaBlend((Columns(0, 2), Columns(2, 2)), cv=3, per_label_shrinkage=50.0, clip=False)
    est.fit(xp.asarray(X), xp.asarray(Y), groups=groups)
    pos = Y.sum(axis=0)[:, None]
    expected = (pos * own + 50.0 * est.weights_) / (pos + 50.0)
    np.testing.assert_allclose(est.label_weights_, expected, atol=1e-12)
    assert est.oof_log_loss_["blend"] < min(metric(Y, A), metric(Y, B))


def test_clip_range_is_chosen_by_the_metric():
    Y = np.zeros((100, 2))
    Y[0, 0] = 1
    P = np.full((100, 2), 1e-3)
    P[0, 0] = 1e-9  # a confident miss of a positive: a floor pays
    P[:, 1] = 0.5
    P[1, 1] = 1 - 1e-9  # a confident false positive: a ceiling pays
    losses = {
        (lo, hi): metric(Y, np.clip(P, lo, hi))
        for lo in CLIP_GRID
        for hi in 1 - np.array(CLIP_GRID)
    }
    assert choose_clip(P, Y) == pytest.approx(min(losses, key=losses.get))
    assert choose_clip(P, Y) == pytest.approx((1e-3, 1 - 1e-3))
    assert choose_clip(P, Y, skip=np.array([True, True])) == (CLIP_GRID[0], 1 - CLIP_GRID[0])


def label_metric(Y: np.ndarray, P: np.ndarray, low=1e-15, high=1 - 1e-15) -> np.ndarray:
    """Each label's log loss from the definition, predictions clipped to [low, high]."""
    P = np.clip(P, low, high)
    return np.mean(-(Y * np.log(P) + (1 - Y) * np.log(1 - P)), axis=0)


def first_minimum(values: np.ndarray) -> int:
    """The first index whose value is the minimum up to rounding (ties go to the first)."""
    return int(np.flatnonzero(values <= values.min() + 1e-12 * abs(values.min()))[0])


def lattice_oracle(Y: np.ndarray, Ps: list, steps: int) -> np.ndarray:
    """Each label's first minimiser over all weight vectors in multiples of 1/steps."""
    points = [
        np.array([*head, steps - sum(head)]) / steps
        for head in itertools.product(range(steps + 1), repeat=len(Ps) - 1)
        if sum(head) <= steps
    ]
    losses = np.array(
        [label_metric(Y, sum(w * P for w, P in zip(v, Ps, strict=True))) for v in points]
    )
    return np.array([points[first_minimum(losses[:, label])] for label in range(Y.shape[1])])


def awkward_labels(rng, n: int = 203):
    """Two members on labels that hit every case of the lattice search: ordinary labels, a
    label on which they agree (a flat loss: its first point wins), one without positives, a
    label whose loss has two local minima because a member says exactly 0 to positives (the
    lower clip caps -log q), and a negative predicted exactly 1 (the 1 - (1 - 1e-15) clip)."""
    Y = (rng.random((n, 9)) < 0.12).astype(float)
    Y[:, 5], Y[:, 6] = Y[:, 0], 0.0
    A, B = noisy(Y, rng, 1.5), 0.5 * noisy(Y, rng, 2.5) + 0.5 * rng.uniform(0, 0.3, Y.shape)
    B[:, 5] = A[:, 5]
    Y[:, 7], A[:, 7], B[:, 7] = 0.0, 0.02, 0.02
    Y[:3, 7], A[:3, 7], B[:3, 7] = 1.0, 0.0, 1e-14  # capped for w_A > 0.9: a second minimum
    A[3:40, 7], B[3:40, 7] = 0.0, 0.6
    Y[0, 8], A[0, 8] = 0.0, 1.0
    return Y, A, B


def test_label_weights_equal_the_whole_lattice_from_the_definition(xp, rng, monkeypatch):
    monkeypatch.setattr(_blend_weights, "_BLOCK", 40)  # blocks of 4 rows, the last one ragged
    Y, A, B = awkward_labels(rng)
    expected = lattice_oracle(Y, [A, B], 100)
    losses = np.array([label_metric(Y[:, 7], k / 100 * A[:, 7] + (1 - k / 100) * B[:, 7])
                       for k in range(101)])  # fmt: skip
    inner = np.flatnonzero((losses[1:-1] < losses[:-2]) & (losses[1:-1] < losses[2:])) + 1
    assert inner.size == 1 and losses[100] < losses[inner[0]]  # bisection would stop inside
    assert expected[5].tolist() == [0.0, 1.0]
    got = label_weights([xp.asarray(A), xp.asarray(B)], xp.asarray(Y))
    np.testing.assert_array_equal(got, expected)
    C = rng.uniform(0.01, 0.6, Y.shape)
    got3 = label_weights([xp.asarray(A), xp.asarray(B), xp.asarray(C)], xp.asarray(Y))
    np.testing.assert_array_equal(got3, lattice_oracle(Y, [A, B, C], 10))


def clip_oracle(Y: np.ndarray, P: np.ndarray, keep: np.ndarray, grid) -> tuple[float, float]:
    """The first best lower and upper bound of ``grid``, each scored over all kept labels."""
    lows = [label_metric(Y, P, low=max(g, 1e-15))[keep].mean() for g in grid]
    highs = [label_metric(Y, P, high=min(1 - g, 1 - 1e-15))[keep].mean() for g in grid]
    return grid[first_minimum(np.array(lows))], 1.0 - grid[first_minimum(np.array(highs))]


def test_clip_choice_equals_the_grid_from_the_definition(xp, rng, monkeypatch):
    monkeypatch.setattr(_blend_weights, "_BLOCK", 35)  # blocks of 5 rows, the last one ragged
    n, K = 157, 7
    Y = (rng.random((n, K)) < 0.3).astype(float)
    right = 10 ** rng.uniform(-4, -0.5, (n, K))  # distance of a prediction from its label
    P = np.where(Y > 0, 1 - right, right)
    miss = rng.random((n, K)) < 0.03
    P[miss] = np.where(
        Y > 0, 10 ** rng.uniform(-9, -2, (n, K)), 1 - 10 ** rng.uniform(-5, -2, (n, K))
    )[miss]
    P[0, :2] = [0.0, 1.0]
    P[:, 3] = np.where(Y[:, 3] > 0, 1e-12, P[:, 3])  # label 3 alone wants a higher floor
    grid = (1e-15, 1e-3, 0.01, 0.03, 0.1, 0.2)  # wide bounds: the best ones lie inside the grid
    for low, high in [(1e-15, 1 - 1e-15), (1e-3, 0.9), (0.2, 1.0)]:
        got = label_losses(xp.asarray(Y), xp.asarray(P), low=low, high=high)
        np.testing.assert_allclose(got, label_metric(Y, P, max(low, 1e-15), min(high, 1 - 1e-15)),
                                   rtol=1e-12)  # fmt: skip
    skip = np.zeros(K, bool)
    skip[3] = True
    choices = []
    for keep in (~skip, np.ones(K, bool)):
        expected = clip_oracle(Y, P, keep, grid)
        choices.append(expected)
        assert choose_clip(xp.asarray(P), xp.asarray(Y), grid, skip=~keep) == expected
        expected = clip_oracle(Y, P, keep, CLIP_GRID)
        assert choose_clip(xp.asarray(P), xp.asarray(Y), skip=~keep) == expected
    low, high = choices[0]
    assert 0 < grid.index(low) < 5 and low != pytest.approx(1 - high)  # inside, one side each
    assert choices[0] != choices[1]  # the skipped label counts once kept
    inner = rng.uniform(0.01, 0.99, (n, K))  # no entry near a bound: every bound ties, the first
    assert choose_clip(xp.asarray(inner), xp.asarray(Y)) == (CLIP_GRID[0], 1 - CLIP_GRID[0])


def test_loss_and_grad_equal_the_definition(xp, rng, monkeypatch):
    monkeypatch.setattr(_blend_weights, "_BLOCK", 33)
    Y, A, B = awkward_labels(rng, n=61)
    W = rng.dirichlet([1.0, 1.0], size=Y.shape[1])  # one weight vector per label
    W[8] = [1.0, 0.0]  # the negative predicted 1 is clipped: no gradient from it
    P = W[:, 0] * A + W[:, 1] * B
    loss, grad = loss_and_grad([xp.asarray(A), xp.asarray(B)], xp.asarray(Y), W)
    np.testing.assert_allclose(loss, label_metric(Y, P), rtol=1e-12)
    inside = (P > 1e-15) & (P < 1 - 1e-15)
    dP = np.where(inside, -Y / np.where(inside, P, 1) + (1 - Y) / np.where(inside, 1 - P, 1), 0)
    want = np.stack([np.mean(dP * A, axis=0), np.mean(dP * B, axis=0)], axis=1)
    np.testing.assert_allclose(grad, want, rtol=1e-10, atol=1e-14)


def knn_oracle(Xq, gq, Xr, Yr, gr, *, k, shrinkage, power):
    """kNN votes from the definition: Pearson correlation, other drugs only, top k."""
    prior = Yr.mean(axis=0)
    out = np.empty((len(Xq), Yr.shape[1]))
    for i, q in enumerate(Xq):
        s = np.array([np.corrcoef(q, r)[0, 1] for r in Xr])
        s[gr == gq[i]] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        w = np.clip(s[top], 0, None) ** power
        out[i] = (w @ Yr[top] + shrinkage * prior) / (w.sum() + shrinkage)
    return out


def test_knn_votes_equal_a_plain_loop_and_skip_the_own_drug(xp, planted):
    X, Y, drugs = planted(n=60, f=12, n_labels=4)
    knn = KnnVotes(k=5, shrinkage=0.3, power=2.0, block_rows=7)
    knn.fit(xp.asarray(X[:45]), xp.asarray(Y[:45]), groups=drugs[:45])
    Xq = np.vstack([X[45:], X[:3]])  # the last three queries are training rows of drug d0
    gq = np.concatenate([drugs[45:], drugs[:3]])
    got = gm.to_numpy(knn.predict_proba(xp.asarray(Xq), groups=gq))
    want = knn_oracle(Xq, gq, X[:45], Y[:45], drugs[:45], k=5, shrinkage=0.3, power=2.0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # without the query's drug ids a training row finds itself (similarity 1) first
    alone = gm.to_numpy(knn.predict_proba(xp.asarray(X[:1])))
    assert not np.allclose(alone, got[-3:-2], atol=1e-3)
    with pytest.raises(ValueError, match="groups has shape"):
        knn.predict_proba(xp.asarray(Xq), groups=gq[:3])
    keep = clone(knn).set_params(exclude_same_drug=False)
    keep.fit(xp.asarray(X[:45]), xp.asarray(Y[:45]), groups=drugs[:45])
    np.testing.assert_array_equal(
        gm.to_numpy(keep.predict_proba(xp.asarray(Xq), groups=gq)),
        gm.to_numpy(knn.predict_proba(xp.asarray(Xq))),
    )


def test_oof_step_equals_a_loop_over_the_folds(planted):
    X, Y, drugs = planted(n=120, f=10, n_labels=4, per_drug=4)
    Y = np.column_stack([Y, np.zeros(len(Y))])  # a label without positives
    members = (MultilabelLogistic(C=0.1), KnnVotes(k=6))
    est = MoaBlend(members, cv=3, random_state=1, clip=False, per_label_shrinkage=None)
    est.fit(X, Y, groups=drugs)
    oof = [np.empty_like(Y) for _ in members]
    for tr, va in grouped_folds(drugs, Y, n_splits=3, random_state=1):
        prior = (Y[tr].sum(axis=0) + 0.5) / (len(tr) + 1)
        for m, member in enumerate(members):
            fitted = clone(member).fit(X[tr], Y[tr], groups=drugs[tr])
            kw = {"groups": drugs[va]} if isinstance(member, KnnVotes) else {}
            P = gm.to_numpy(fitted.predict_proba(X[va], **kw)).astype(float)
            P[:, Y[tr].sum(axis=0) == 0] = prior[Y[tr].sum(axis=0) == 0]
            oof[m][va] = P
    assert est.oof_log_loss_["logistic"] == pytest.approx(metric(Y, oof[0]), rel=1e-5)
    assert est.oof_log_loss_["knn"] == pytest.approx(metric(Y, oof[1]), rel=1e-5)
    blended = est.weights_[0] * oof[0] + est.weights_[1] * oof[1]
    assert est.oof_log_loss_["blend"] == pytest.approx(metric(Y, blended), rel=1e-5)
    assert est.oof_log_loss_["blend"] <= min(metric(Y, oof[0]), metric(Y, oof[1])) + 1e-12
    assert est.fold_log_loss_.shape == (3, 4) and est.label_log_loss_.shape == (5, 4)
    P = gm.to_numpy(est.predict_proba(X))
    assert np.all(P[:, 4] == pytest.approx(0.5 / (len(Y) + 1)))  # the smoothed prior


def test_fixed_weights_and_errors(rng):
    Y = (rng.random((40, 3)) < 0.3).astype(float)
    X = rng.uniform(0.1, 0.9, (40, 6))
    est = MoaBlend((Columns(0, 3), Columns(3, 3)), weights=(1, 3)).fit(X, Y)
    np.testing.assert_allclose(est.weights_, [0.25, 0.75])
    np.testing.assert_allclose(est.predict_proba(X), 0.25 * X[:, :3] + 0.75 * X[:, 3:], rtol=1e-6)
    assert est.oof_log_loss_ is None
    with pytest.raises(ValueError, match="weights must be 'oof' or 2 non-negative"):
        MoaBlend((Columns(0, 3), Columns(3, 3)), weights=(1, -1)).fit(X, Y)
    with pytest.raises(ValueError, match="weights must be 'oof' or a sequence"):
        MoaBlend((Columns(0, 3),), weights="best").fit(X, Y)
    with pytest.raises(ValueError, match="groups has shape"):
        MoaBlend((Columns(0, 3),)).fit(X, Y, groups=np.arange(3))


def test_blend_model_files_round_trip_and_consistency(labelled_profiles, planted, tmp_path):
    X, Y, drugs = planted(n=90, f=12, n_labels=4)
    p = labelled_profiles(X, Y, drugs, controls=6)
    blend = MoaBlend((MultilabelLogistic(C=0.1), KnnVotes(k=5)), cv=3)
    with gm.settings.override(progress=False):
        model = gm.models.train_model(p, features="raw", estimator=blend)
    model.save(tmp_path / "m")
    loaded = TrainedModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(p), model.predict(p), atol=1e-6)
    assert np.all(loaded.predict(p).to_numpy()[:6] == 0)  # controls
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["estimator"]["kind"] == "blend"
    assert [m["kind"] for m in manifest["estimator"]["members"]] == ["logistic", "knn"]
    # arrays.npz without the kNN reference: the files disagree
    with np.load(tmp_path / "m" / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    reference = arrays.pop("member1/reference")
    np.savez(tmp_path / "m" / "arrays.npz", **arrays)
    with pytest.raises(gm.DataError, match="do not agree.*member1/reference"):
        TrainedModel.load(tmp_path / "m")
    # a kNN reference of other rows than its labels
    np.savez(tmp_path / "m" / "arrays.npz", **arrays, **{"member1/reference": reference[:-3]})
    with pytest.raises(gm.DataError, match="do not agree.*84 label rows for 81 kNN reference rows"):
        TrainedModel.load(tmp_path / "m")


def test_logistic_files_of_version_1_still_load(labelled_profiles, planted, tmp_path):
    X, Y, drugs = planted()
    p = labelled_profiles(X, Y, drugs)
    model = gm.models.train_model(p, C=0.1, features="raw")
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "model.json").read_text())
    manifest["format"] = "gpu_moa.multilabel_logistic/1"
    del manifest["estimator"]["kind"]
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    np.testing.assert_allclose(TrainedModel.load(tmp_path).predict(p), model.predict(p))
    manifest["label_names"] = manifest["label_names"][:2]
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(gm.DataError, match="do not agree.*2 labels"):
        TrainedModel.load(tmp_path)


def test_oof_matrices_stay_on_the_device(xp, planted):
    X, Y, drugs = planted(n=150, f=10, n_labels=6, per_drug=5)
    est = MoaBlend((MultilabelLogistic(C=0.1), KnnVotes(k=6)), cv=3)
    with gm.track_transfers() as log:
        est.fit(xp.asarray(X), xp.asarray(Y), groups=drugs)
        P = est.predict_proba(xp.asarray(X))
    assert type(P) is type(xp.asarray(X)) and P.shape == Y.shape
    # per-label scalars only; the one rows x labels copy is the input labels that the
    # multilabel-stratified fold assignment (iterstrat, NumPy) reads, never a prediction block
    big = [c for c in log.calls if c.direction == "to_host" and c.nbytes >= Y.size * 4]
    assert [c.where.split(":")[1] for c in big] in ([], ["grouped_folds"]), big
