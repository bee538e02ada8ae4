"""Tests for teamculture.scale_reliability against psych (committed outputs) and closed forms."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

import teamculture as tc
from teamculture.errors import BoundaryWarning, DroppedDataWarning

REF = Path(__file__).resolve().parents[1] / "reference"
DATA = REF / "reliability_data"
KEYS6 = ["A1", "A2", "-A3", "A4", "A5", "A6"]


@pytest.fixture(scope="module")
def psych_ref() -> dict:
    with open(REF / "psych_reliability.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def likert6() -> pd.DataFrame:
    return pd.read_csv(DATA / "likert6.csv")


@pytest.fixture(scope="module")
def likert6_na() -> pd.DataFrame:
    return pd.read_csv(DATA / "likert6_na.csv")


@pytest.fixture(scope="module")
def bifactor9() -> pd.DataFrame:
    return pd.read_csv(DATA / "bifactor9.csv")


@pytest.fixture(scope="module")
def multilevel_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "multilevel.csv")


# ---------------------------------------------------------------------------
# psych::alpha oracle (closed forms: rtol 1e-8 is far looser than the ~1e-15 agreement)
# ---------------------------------------------------------------------------

TOTAL_MAP = {
    "alpha": "raw_alpha",
    "std_alpha": "std.alpha",
    "lambda6": "G6(smc)",
    "average_r": "average_r",
    "median_r": "median_r",
    "std_error": "ase",
    "mean": "mean",
    "sd": "sd",
}
ITEM_MAP = {"n": "n", "r_raw": "raw.r", "r_std": "std.r", "r_cor": "r.cor", "r_drop": "r.drop", "mean": "mean", "sd": "sd"}
DROP_MAP = {
    "alpha_if_deleted": "raw_alpha",
    "std_alpha_if_deleted": "std.alpha",
    "lambda6_if_deleted": "G6(smc)",
    "average_r_if_deleted": "average_r",
}


def _check_against_psych(res, ref):
    for ours, theirs in TOTAL_MAP.items():
        assert_allclose(getattr(res, ours), ref["total"][theirs], rtol=1e-8, atol=1e-12, err_msg=ours)
    for ours, theirs in ITEM_MAP.items():
        assert_allclose(res.items[ours].to_numpy(float), ref["item_stats"][theirs], rtol=1e-8, atol=1e-12, err_msg=ours)
    for ours, theirs in DROP_MAP.items():
        assert_allclose(res.items[ours].to_numpy(float), ref["alpha_drop"][theirs], rtol=1e-8, atol=1e-12, err_msg=ours)
    low, high = res.confidence_interval(0.95, ci_method="feldt")
    assert_allclose([low, high], [ref["feldt"]["lower_ci"], ref["feldt"]["upper_ci"]], rtol=1e-8)
    assert res.n_obs == ref["nsub"]


def test_alpha_matches_psych_keyed(likert6, psych_ref):
    res = tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5))
    _check_against_psych(res, psych_ref["alpha"]["likert6_keyed"])
    assert res.items["reversed"].tolist() == [False, False, True, False, False, False]
    assert res.n_dropped == 0


def test_alpha_matches_psych_subset(likert6, psych_ref):
    res = tc.cronbach_alpha(likert6[["A1", "A2", "A4", "A5"]])
    _check_against_psych(res, psych_ref["alpha"]["likert6_unkeyed_first4"])


def test_alpha_matches_psych_pairwise_missing(likert6_na, psych_ref):
    assert likert6_na.isna().any().any()
    res = tc.cronbach_alpha(likert6_na, keys=KEYS6, scale=(1, 5), nan_policy="pairwise")
    _check_against_psych(res, psych_ref["alpha"]["likert6_na_keyed"])


def test_alpha_matches_psych_continuous(bifactor9, psych_ref):
    res = tc.cronbach_alpha(bifactor9)
    _check_against_psych(res, psych_ref["alpha"]["bifactor9"])


def test_duhachek_interval_is_wald_on_psych_ase(likert6, psych_ref):
    res = tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5))
    ref = psych_ref["alpha"]["likert6_keyed"]["total"]
    z = stats.norm.isf(0.025)  # qnorm(0.975)
    low, high = res.confidence_interval(ci_method="duhachek")
    assert_allclose([low, high], [ref["raw_alpha"] - z * ref["ase"], ref["raw_alpha"] + z * ref["ase"]], rtol=1e-8)


def test_omit_policy_is_complete_case_analysis(likert6_na):
    complete = likert6_na.dropna()
    with pytest.warns(DroppedDataWarning, match=f"{len(likert6_na) - len(complete)} of {len(likert6_na)}"):
        res = tc.cronbach_alpha(likert6_na, keys=KEYS6, scale=(1, 5))
    direct = tc.cronbach_alpha(complete, keys=KEYS6, scale=(1, 5))
    assert res.n_dropped == len(likert6_na) - len(complete)
    assert res.n_obs == len(complete)
    assert_allclose(res.alpha, direct.alpha, rtol=1e-14)
    assert (res.items["n"] == len(complete)).all()


def test_nan_policy_raise(likert6_na):
    with pytest.raises(ValueError, match="nan_policy='raise'"):
        tc.cronbach_alpha(likert6_na, nan_policy="raise")


# ---------------------------------------------------------------------------
# keys and bounds
# ---------------------------------------------------------------------------


def test_reverse_needs_declared_bounds(likert6):
    with pytest.raises(ValueError, match=r"`keys` reverse-key 1 item\(s\) \['A3'\] but `scale` is None"):
        tc.cronbach_alpha(likert6, keys=KEYS6)


def test_declared_bounds_not_observed_range():
    # item 2 never uses the scale end 5: psych (observed min/max = 1..4) would
    # reverse it as 5 - x; the declared bounds (1, 5) give 6 - x.
    x = pd.DataFrame({"a": [1, 2, 3, 4, 2, 3], "b": [4, 3, 2, 1, 3, 1], "c": [1, 3, 3, 4, 2, 4]})
    res = tc.cronbach_alpha(x, keys=["a", "-b", "c"], scale=(1, 5))
    assert_allclose(res.items.loc["b", "mean"], 6 - x["b"].mean(), rtol=1e-14)


def test_key_forms_agree(likert6):
    by_name = tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5))
    by_bool = tc.cronbach_alpha(likert6, keys=[False, False, True, False, False, False], scale=(1, 5))
    by_sign = tc.cronbach_alpha(likert6, keys=[1, 1, -1, 1, 1, 1], scale=(1, 5))
    per_item = tc.cronbach_alpha(likert6, keys=KEYS6, scale={c: (1, 5) for c in likert6.columns})
    manual = likert6.assign(A3=6 - likert6["A3"])
    plain = tc.cronbach_alpha(manual)
    for other in (by_bool, by_sign, per_item, plain):
        assert_allclose(other.alpha, by_name.alpha, rtol=1e-14)
        assert_allclose(other.items["r_drop"].to_numpy(), by_name.items["r_drop"].to_numpy(), rtol=1e-13)


def test_keys_select_columns_in_order(likert6):
    res = tc.cronbach_alpha(likert6, keys=["A5", "A1", "A2"])
    assert list(res.items.index) == ["A5", "A1", "A2"]
    assert_allclose(res.alpha, tc.cronbach_alpha(likert6[["A1", "A2", "A5"]]).alpha, rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"keys": ["A1", "Z9"]}, ValueError, r"`keys` names 1 item\(s\) that are not columns of `items`: \['Z9'\]"),
        ({"keys": ["A1", "A1", "A2"]}, ValueError, r"`keys` names item\(s\) more than once: \['A1'\]"),
        ({"keys": [True, False]}, ValueError, r"`keys` given as flags must have one entry per column \(6\); got 2"),
        ({"keys": [1, 1, 2, 1, 1, 1]}, ValueError, r"numeric `keys` must be \+1 or -1.*\[2\]"),
        ({"keys": "A1"}, TypeError, r"`keys` must be None, .*got str"),
        ({"keys": ["-A3", "A1"], "scale": (5, 1)}, ValueError, r"`scale` as \(low, high\) must be two integers with low < high"),
        ({"keys": ["-A3", "A1"], "scale": {"A3": (1, 5)}}, ValueError, r"`scale` given per item has no entry for 1 item\(s\) \['A1'\]"),
        ({"scale": (1, 4)}, ValueError, r"`items` has \d+ value\(s\) outside the response scale 1..4 in column\(s\) \['A1', 'A2'"),
        ({"scale": 5}, TypeError, r"`scale` must be .*got the number 5. For a 5-point scale coded 1..5 pass scale=\(1, 5\)"),
        ({"keys": ["A1", "A2"], "invalid": "drop"}, ValueError, r"`invalid` must be one of \['raise', 'missing'\]"),
        ({"nan_policy": "drop"}, ValueError, r"`nan_policy` must be one of \['omit', 'pairwise', 'raise'\]; got 'drop'"),
        ({"keys": ["A1"]}, ValueError, r"`items` must have at least 2 items"),
    ],
)
def test_validation_messages(likert6, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tc.cronbach_alpha(likert6, **kwargs)


def test_zero_variance_and_non_numeric():
    x = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 2, 2, 2], "c": [1.0, 3, 2, 4]})
    with pytest.raises(ValueError, match=r"`items` has 1 item\(s\) with no variance .*\['b'\]"):
        tc.cronbach_alpha(x)
    with pytest.raises(TypeError, match=r"`items` must be numeric; 1 column\(s\) are not: \['b'\]"):
        tc.cronbach_alpha(x.assign(b=["x", "y", "z", "w"]))
    with pytest.raises(ValueError, match=r"`items` must have at least 2 items \(columns\); got 1"):
        tc.cronbach_alpha(np.ones(5))


def test_confidence_interval_validation(likert6):
    res = tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5))
    with pytest.raises(ValueError, match=r"`ci_method` must be one of \['feldt', 'duhachek'\]; got 'bootstrap'"):
        res.confidence_interval(ci_method="bootstrap")
    assert res.confidence_interval() == res.confidence_interval(0.95, ci_method="feldt")
    assert isinstance(res.confidence_interval(), tc.ConfidenceInterval)
    with pytest.raises(ValueError, match=r"`confidence_level` must lie in \(0, 1\); got 1.0"):
        res.confidence_interval(1.0)
    lo90, hi90 = res.confidence_interval(0.90)
    lo99, hi99 = res.confidence_interval(0.99)
    assert lo99 < lo90 < res.alpha < hi90 < hi99


def test_summary_and_frozen(likert6):
    res = tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5))
    text = str(res.summary())
    assert "Feldt" in text and "Duhachek" in text and "A3" in text
    assert str(res) == text
    assert "<table" in res.summary().as_html() and "\\toprule" in res.summary().as_latex()
    frame = res.to_frame()
    assert frame.shape == (1, 13) and frame.loc[0, "alpha"] == res.alpha
    import pickle
    assert pickle.loads(pickle.dumps(res)) == res
    assert res != tc.cronbach_alpha(likert6)
    assert (res.n_obs, res.n_dropped, res.n_groups) == (len(likert6), 0, None)
    with pytest.raises(AttributeError):
        res.alpha = 0.5  # type: ignore[misc]
    assert list(res.items.columns) == [
        "reversed", "n", "mean", "sd", "r_raw", "r_std", "r_cor", "r_drop",
        "alpha_if_deleted", "std_alpha_if_deleted", "lambda6_if_deleted", "average_r_if_deleted",
    ]


def test_two_items_have_no_alpha_if_deleted():
    x = np.array([[1.0, 2], [2, 2], [3, 4], [4, 5], [2, 1]])
    res = tc.cronbach_alpha(x)
    assert res.items["alpha_if_deleted"].isna().all()
    # closed form for two items: alpha = 4 c12 / (v1 + v2 + 2 c12)
    c = np.cov(x, rowvar=False)
    assert_allclose(res.alpha, 4 * c[0, 1] / (c[0, 0] + c[1, 1] + 2 * c[0, 1]), rtol=1e-12)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------


@st.composite
def likert_matrices(draw, min_items=3, max_items=6):
    k = draw(st.integers(min_items, max_items))
    n = draw(st.integers(8, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n)
    z = f[:, None] * rng.uniform(0.3, 0.9, k) + rng.standard_normal((n, k))
    x = np.clip(np.round(3 + z), 1, 5)
    x[0] = 1.0
    x[1] = 5.0  # every item varies
    return pd.DataFrame(x, columns=[f"i{j}" for j in range(k)])


@given(likert_matrices(), st.randoms(use_true_random=False))
def test_alpha_invariant_to_row_and_item_order(x, rnd):
    base = tc.cronbach_alpha(x)
    rows = list(range(len(x)))
    cols = list(x.columns)
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    perm = tc.cronbach_alpha(x.iloc[rows][cols])
    for name in ("alpha", "std_alpha", "lambda6", "average_r", "std_error"):
        assert_allclose(getattr(perm, name), getattr(base, name), rtol=1e-10, atol=1e-12)
    assert_allclose(perm.items.loc[base.items.index, "r_drop"], base.items["r_drop"], rtol=1e-10, atol=1e-12)


# random items may covary negatively: a negative alpha is flagged (BoundaryWarning), the identities hold
@pytest.mark.filterwarnings("ignore::teamculture.errors.BoundaryWarning")
@given(likert_matrices())
def test_reverse_keying_twice_is_identity(x):
    first = x.columns[0]
    once = tc.cronbach_alpha(x, keys=[f"-{first}", *x.columns[1:]], scale=(1, 5))
    twice_data = x.assign(**{first: 6 - x[first]})
    twice = tc.cronbach_alpha(twice_data, keys=[f"-{first}", *x.columns[1:]], scale=(1, 5))
    plain = tc.cronbach_alpha(x)
    assert_allclose(twice.alpha, plain.alpha, rtol=1e-12)
    assert_allclose(twice.items["mean"], plain.items["mean"], rtol=1e-12)
    assert_allclose(once.items.loc[first, "mean"], 6 - plain.items.loc[first, "mean"], rtol=1e-12)


# random items may covary negatively: a negative alpha is flagged (BoundaryWarning), the identities hold
@pytest.mark.filterwarnings("ignore::teamculture.errors.BoundaryWarning")
@given(likert_matrices())
def test_std_alpha_closed_form_and_input_not_mutated(x):
    before = x.copy()
    res = tc.cronbach_alpha(x, keys=[f"-{x.columns[0]}", *x.columns[1:]], scale=(1, 5))
    pd.testing.assert_frame_equal(x, before)
    k = res.n_items
    rbar = res.average_r
    assert_allclose(res.std_alpha, k * rbar / (1 + (k - 1) * rbar), rtol=1e-10)
    # the average r is the mean of the off-diagonal correlations of the keyed data
    keyed = x.assign(**{x.columns[0]: 6 - x[x.columns[0]]})
    r = np.corrcoef(keyed.to_numpy(), rowvar=False)
    assert_allclose(rbar, r[np.triu_indices(k, 1)].mean(), rtol=1e-10)


@given(st.integers(2, 8), st.lists(st.floats(0.5, 3.0), min_size=1, max_size=1), st.integers(0, 10_000))
def test_identical_items_have_alpha_one(k, scale, seed):
    # k copies of the same item (each rescaled by a constant): std alpha and
    # lambda-6 are exactly 1; raw alpha is 1 when the copies have equal variance.
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(30)
    same = np.column_stack([t] * k)
    assert_allclose(tc.cronbach_alpha(same).alpha, 1.0, rtol=1e-12)
    scaled = np.column_stack([t * (1 + j * scale[0]) for j in range(k)])
    res = tc.cronbach_alpha(scaled)
    assert_allclose(res.std_alpha, 1.0, rtol=1e-12)
    assert_allclose(res.average_r, 1.0, rtol=1e-12)
    w = 1 + np.arange(k) * scale[0]
    # raw alpha of perfectly correlated items with sds w: k/(k-1) (1 - sum w^2 / (sum w)^2)
    assert_allclose(res.alpha, k / (k - 1) * (1 - (w**2).sum() / w.sum() ** 2), rtol=1e-10)


@given(likert_matrices())
def test_alpha_equals_slow_variance_formula(x):
    res = tc.cronbach_alpha(x)
    arr = x.to_numpy()
    k = arr.shape[1]
    item_var = sum(np.var(arr[:, j], ddof=1) for j in range(k))
    total_var = np.var(arr.sum(axis=1), ddof=1)
    assert_allclose(res.alpha, k / (k - 1) * (1 - item_var / total_var), rtol=1e-10)
    # r_drop: correlation of each item with the sum of the others
    for j in range(k):
        rest = np.delete(arr, j, axis=1).sum(axis=1)
        assert_allclose(res.items["r_drop"].iloc[j], np.corrcoef(arr[:, j], rest)[0, 1], rtol=1e-10)


# ---------------------------------------------------------------------------
# omega vs psych::omega (iterative: psych stops optim at its default
# tolerance and GPArotation at 1e-5; its communalities are off the optimum by
# up to ~2e-5, so omega_total agrees to ~1e-7 and omega_h to ~2e-6 relative.
# Tolerances below are 5-10x those observed differences.)
# ---------------------------------------------------------------------------


def _match_columns(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Reorder/reflect our group-factor columns to psych's (factor order and sign are arbitrary)."""
    out = np.empty_like(theirs)
    used: set[int] = set()
    for j in range(theirs.shape[1]):
        score = [abs(np.dot(ours[:, i], theirs[:, j])) if i not in used else -1 for i in range(ours.shape[1])]
        i = int(np.argmax(score))
        used.add(i)
        out[:, j] = ours[:, i] * np.sign(np.dot(ours[:, i], theirs[:, j]))
    return out


@pytest.mark.parametrize("m", [1, 2, 3])
def test_omega_matches_psych(bifactor9, psych_ref, m):
    ref = psych_ref["omega"][f"bifactor9_{m}"]
    res = tc.omega(bifactor9, n_factors=m)
    assert res.converged
    assert_allclose(res.omega_total, ref["omega_tot"], rtol=1e-6)
    assert_allclose(res.omega_hierarchical, ref["omega_h"], rtol=1e-5)
    assert_allclose(res.omega_limit, ref["omega_lim"], rtol=1e-5)
    assert_allclose(res.alpha, ref["alpha"], rtol=1e-10)
    sl = ref["sl"]
    assert_allclose(res.loadings["g"], sl["g"], atol=1e-4)
    assert_allclose(res.loadings["h2"], sl["h2"], atol=2e-4)
    assert_allclose(res.loadings["u2"], sl["u2"], atol=2e-4)
    if m > 1:
        theirs = np.column_stack([sl[f"F{j}*"] for j in range(1, m + 1)])
        ours = _match_columns(res.loadings[[f"F{j}" for j in range(1, m + 1)]].to_numpy(), theirs)
        assert_allclose(ours, theirs, atol=1e-4)
        phi_theirs = np.sort(np.array(ref["phi"]).reshape(m, m)[np.triu_indices(m, 1)])
        phi_ours = np.sort(np.abs(res.factor_correlations.to_numpy()[np.triu_indices(m, 1)]))
        assert_allclose(phi_ours, phi_theirs, atol=1e-4)


def test_omega_one_factor_keyed_matches_psych(likert6, psych_ref):
    ref = psych_ref["omega"]["likert6_keyed_1"]
    res = tc.omega(likert6, n_factors=1, keys=KEYS6, scale=(1, 5))
    assert_allclose(res.omega_total, ref["omega_tot"], rtol=1e-6)
    assert_allclose(res.omega_hierarchical, ref["omega_h"], rtol=1e-6)
    # the one-factor loadings are psych::fa(nfactors = 1, fm = "minres")
    fa1 = psych_ref["fa1"]["likert6_keyed"]
    assert_allclose(res.loadings["g"], fa1["loadings"], atol=1e-5)
    assert_allclose(res.loadings["u2"], fa1["uniquenesses"], atol=1e-5)


@pytest.mark.parametrize("m", [1, 2])
def test_omega_pairwise_missing_matches_psych(likert6_na, psych_ref, m):
    # psych::omega uses cor(use = "pairwise"): per-pair means and sds
    ref = psych_ref["omega"][f"likert6_na_keyed_{m}"]
    if m == 2:
        # a Heywood case (psych's u2 for A4 is 0.0043 too): flagged, the numbers still match psych
        with pytest.warns(BoundaryWarning, match=r"Heywood case: item\(s\) \['A4'\] of `items` reached the lower bound"):
            res = tc.omega(likert6_na, n_factors=m, keys=KEYS6, scale=(1, 5), nan_policy="pairwise")
        assert not res.notes == () and "Heywood" in str(res.summary())
    else:
        res = tc.omega(likert6_na, n_factors=m, keys=KEYS6, scale=(1, 5), nan_policy="pairwise")
    assert_allclose(res.omega_total, ref["omega_tot"], rtol=1e-6)
    assert_allclose(res.omega_hierarchical, ref["omega_h"], rtol=1e-5)
    assert_allclose(res.alpha, ref["alpha"], rtol=1e-10)
    assert_allclose(res.loadings["g"], ref["sl"]["g"], atol=1e-4)


def test_omega_reflects_negative_items(likert6, psych_ref):
    # unkeyed A3 loads negatively: it is reflected, and omega equals the keyed analysis
    ref = psych_ref["omega"]["likert6_keyed_1"]
    res = tc.omega(likert6, n_factors=1)
    assert res.reflected == ("A3",)
    assert_allclose(res.omega_total, ref["omega_tot"], rtol=1e-6)


def test_omega_one_factor_closed_form():
    # exact one-factor correlation structure: minres recovers it, so
    # omega_t = omega_h = (sum l)^2 / 1'R1 with R = ll' + diag(1 - l^2)
    lam = np.array([0.8, 0.7, 0.6, 0.5, 0.75])
    r = np.outer(lam, lam)
    np.fill_diagonal(r, 1.0)
    rng = np.random.default_rng(3)
    z = rng.standard_normal((400, 5))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x = z @ np.linalg.cholesky(r).T  # sample correlation exactly r
    res = tc.omega(x, n_factors=1)
    expected = lam.sum() ** 2 / r.sum()
    assert_allclose(res.omega_total, expected, rtol=1e-8)
    assert_allclose(res.omega_hierarchical, expected, rtol=1e-8)
    assert_allclose(res.loadings["g"], lam, rtol=1e-6)


def test_omega_validation(bifactor9):
    with pytest.raises(ValueError, match=r"`n_factors` = 5 is too many for 9 items; at most 4"):
        tc.omega(bifactor9, n_factors=5)
    with pytest.raises(TypeError, match=r"`n_factors` must be an integer; got 2.5"):
        tc.omega(bifactor9, n_factors=2.5)
    with pytest.raises(ValueError, match=r"`items` must have at least 3 items \(columns\); got 2"):
        tc.omega(bifactor9[["V1", "V2"]], n_factors=1)
    res = tc.omega(bifactor9, n_factors=3)
    assert "omega hierarchical" in str(res.summary())
    assert list(res.loadings.columns) == ["g", "F1", "F2", "F3", "h2", "u2", "p2"]


# ---------------------------------------------------------------------------
# multilevel reliability: base-R manova sums of squares, psych::statsBy,
# psych::alpha / psych::fa on the level covariance matrices
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_result(multilevel_data):
    return tc.multilevel_reliability(multilevel_data[["m1", "m2", "m3", "m4"]], multilevel_data["g"])


def test_multilevel_decomposition_matches_manova(ml_result, psych_ref):
    ref = psych_ref["multilevel"]
    n, g = ref["n"], ref["G"]
    assert (ml_result.n_obs, ml_result.n_groups) == (n, g)
    ss_w = np.array(ref["ss_within"]).reshape(4, 4)
    ss_b = np.array(ref["ss_between"]).reshape(4, 4)
    assert_allclose(ml_result.cov_within.to_numpy() * (n - g), ss_w, rtol=1e-10)
    sizes = np.array(ref["sizes"])
    c = (n - (sizes**2).sum() / n) / (g - 1)
    assert_allclose(ml_result.group_size_c, c, rtol=1e-12)
    ms_b = ss_b / (g - 1)
    assert_allclose(ml_result.cov_between.to_numpy(), (ms_b - ss_w / (n - g)) / c, rtol=1e-10)


def test_multilevel_matches_statsby(ml_result, psych_ref):
    ref = psych_ref["multilevel"]
    cw = ml_result.cov_within.to_numpy()
    sd = np.sqrt(np.diag(cw))
    assert_allclose(cw / np.outer(sd, sd), np.array(ref["rwg"]).reshape(4, 4), rtol=1e-10)
    # statsBy ICC2 = (MSb - MSw) / MSb: the same on our decomposition
    assert_allclose(ml_result.items["icc2"], ref["ICC2"][1:], rtol=1e-10)
    # statsBy ICC1 uses the mean group size N/G where our variance components use
    # the ANOVA c; rebuild MSb from our matrices and apply statsBy's formula
    var_w = ml_result.items["var_within"].to_numpy()
    ms_b = ml_result.group_size_c * ml_result.items["var_between"].to_numpy() + var_w
    npr = ref["n"] / ref["G"]
    assert_allclose((ms_b - var_w) / (ms_b + var_w * (npr - 1)), ref["ICC1"][1:], rtol=1e-10)


def test_multilevel_alpha_matches_psych(ml_result, psych_ref):
    ref = psych_ref["multilevel"]
    assert_allclose(ml_result.alpha_within, ref["alpha_within"], rtol=1e-10)
    assert_allclose(ml_result.alpha_between, ref["alpha_between"], rtol=1e-10)


def _offdiag_residual(s, lam, psi):
    e = s - np.outer(lam, lam) - np.diag(psi)
    np.fill_diagonal(e, 0.0)
    return float((e**2).sum())


def test_multilevel_omega_vs_psych_fa(ml_result, psych_ref):
    ref = psych_ref["multilevel"]
    # within: psych's optim stops ~1e-4 from the minres optimum on this scale
    fw = ref["fa_within"]
    assert_allclose(ml_result.items["loading_within"], fw["loadings"], atol=3e-4)
    lam, psi = np.array(fw["loadings"]), np.array(fw["uniquenesses"])
    assert_allclose(ml_result.omega_within, lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum()), rtol=1e-4)
    # between (small variances): psych's fa stops well short of the optimum;
    # ours has the smaller minres criterion (checked on the same matrix).
    fb = ref["fa_between"]
    sb = ml_result.cov_between.to_numpy()
    lam_b = ml_result.items["loading_between"].to_numpy()
    psi_b = np.diag(sb) - lam_b**2
    assert _offdiag_residual(sb, lam_b, psi_b) <= _offdiag_residual(sb, np.array(fb["loadings"]), fb["uniquenesses"])


def test_multilevel_exact_one_factor_levels():
    # group means and deviations constructed so that S_W and Sigma_B are exactly
    # one-factor matrices: level omegas and alphas have closed forms
    rng = np.random.default_rng(5)
    k, g, m = 4, 30, 6
    lw, pw = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5, 0.6, 0.4, 0.7])
    lb, pb = np.array([0.5, 0.4, 0.45, 0.3]), np.array([0.05, 0.08, 0.06, 0.04])
    sw = np.outer(lw, lw) + np.diag(pw)
    sbt = np.outer(lb, lb) + np.diag(pb)

    def exact(z, cov):
        z = z - z.mean(0)
        z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z)).T
        return z @ np.linalg.cholesky(cov).T

    # pooled within: stack group blocks whose deviations jointly have crossproduct sw * (N - G)
    dev = rng.standard_normal((g * m, k))
    codes = np.repeat(np.arange(g), m)
    dev -= np.array([dev[codes == j].mean(0) for j in range(g)])[codes]
    dev = dev @ np.linalg.inv(np.linalg.cholesky(dev.T @ dev)).T @ np.linalg.cholesky(sw * (g * m - g)).T
    # balanced: c = m, MS_B = m * cov(group means); choose means with cov = sbt + sw / m
    mu = exact(rng.standard_normal((g, k)), (sbt + sw / m) * (g - 1))
    x = dev + mu[codes] + 3.0
    res = tc.multilevel_reliability(x, codes)
    assert_allclose(res.cov_within.to_numpy(), sw, rtol=1e-9, atol=1e-12)
    assert_allclose(res.cov_between.to_numpy(), sbt, rtol=1e-9, atol=1e-12)
    assert_allclose(res.omega_within, lw.sum() ** 2 / (lw.sum() ** 2 + pw.sum()), rtol=1e-7)
    assert_allclose(res.omega_between, lb.sum() ** 2 / (lb.sum() ** 2 + pb.sum()), rtol=1e-7)
    assert_allclose(res.alpha_within, k / (k - 1) * (1 - np.trace(sw) / sw.sum()), rtol=1e-9)
    assert_allclose(res.alpha_between, k / (k - 1) * (1 - np.trace(sbt) / sbt.sum()), rtol=1e-9)


def test_multilevel_invariances_and_no_mutation(multilevel_data, ml_result):
    before = multilevel_data.copy()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(multilevel_data))
    shuffled = multilevel_data.iloc[perm]
    relabelled = shuffled.assign(g="T" + shuffled["g"].str[::-1])
    res = tc.multilevel_reliability(relabelled[["m1", "m2", "m3", "m4"]], relabelled["g"])
    pd.testing.assert_frame_equal(multilevel_data, before)
    for name in ("alpha_within", "alpha_between", "omega_within", "omega_between"):
        assert_allclose(getattr(res, name), getattr(ml_result, name), rtol=1e-9)


def test_multilevel_missing_and_validation(multilevel_data):
    x = multilevel_data.copy()
    x.loc[x.index[:3], "m2"] = np.nan
    items = x[["m1", "m2", "m3", "m4"]]
    with pytest.warns(DroppedDataWarning, match=r"3 of 376 row\(s\) with a missing value in `items` were dropped"):
        res = tc.multilevel_reliability(items, x["g"])
    assert res.n_dropped == 3
    x.loc[x.index[5], "g"] = None
    with pytest.warns(DroppedDataWarning, match=r"4 of 376 row\(s\) with a missing value in `items/groups`"):
        res4 = tc.multilevel_reliability(items, x["g"])
    assert res4.n_dropped == 4 and res4.n_obs == 372
    with pytest.raises(ValueError, match=r"`nan_policy` must be one of \['omit', 'raise'\].*got 'pairwise'"):
        tc.multilevel_reliability(items, x["g"], nan_policy="pairwise")
    with pytest.raises(TypeError, match=r"`groups` must be the group labels, one per row of `items`.*got the string 'g'"):
        tc.multilevel_reliability(items, "g")
    with pytest.raises(ValueError, match=r"`groups` must have at least two groups with data; got 1"):
        tc.multilevel_reliability(multilevel_data[["m1", "m2"]], np.zeros(len(multilevel_data)))
    with pytest.warns(DroppedDataWarning, match=r"376 of 376 row\(s\)"), \
            pytest.raises(ValueError, match=r"`groups` must have at least two groups with data; got 0"):
        tc.multilevel_reliability(multilevel_data[["m1", "m2"]], [None] * len(multilevel_data))
    assert "between" in str(res.summary())


# ---------------------------------------------------------------------------
# reliability(data, instrument): psych::scoreItems(impute = "none")
# ---------------------------------------------------------------------------

SCORE_KEYS = {"s1": ["A1", "A2", "-A3"], "s2": ["A4", "A5", "A6"], "all": ["A1", "A2", "-A3", "A4", "A5", "A6"]}


def test_reliability_matches_score_items(likert6, psych_ref):
    ref = psych_ref["score_items"]["likert6"]
    table = tc.instrument_reliability(likert6, SCORE_KEYS, scale=(1, 5))
    assert list(table.index) == ref["scales"]
    assert_allclose(table["alpha"], ref["alpha"], rtol=1e-8)
    assert table["n_items"].tolist() == ref["n_items"]
    # scoreItems' av.r is the average r implied by raw alpha, alpha / (k - (k - 1) alpha)
    k = table["n_items"].to_numpy()
    a = table["alpha"].to_numpy()
    assert_allclose(a / (k - (k - 1) * a), ref["av_r"], rtol=1e-8)
    # the full scale equals psych::alpha on all six keyed items
    full = psych_ref["alpha"]["likert6_keyed"]["total"]
    assert_allclose(table.loc["all", ["alpha", "std_alpha", "lambda6", "average_r"]].to_numpy(float),
                    [full["raw_alpha"], full["std.alpha"], full["G6(smc)"], full["average_r"]], rtol=1e-8)
    assert_allclose(table.loc["all", ["ci_low", "ci_high"]].to_numpy(float),
                    [psych_ref["alpha"]["likert6_keyed"]["feldt"]["lower_ci"],
                     psych_ref["alpha"]["likert6_keyed"]["feldt"]["upper_ci"]], rtol=1e-8)


def test_reliability_pairwise_matches_score_items_with_missing(likert6_na, psych_ref):
    ref = psych_ref["score_items"]["likert6_na"]
    table = tc.instrument_reliability(likert6_na, SCORE_KEYS, scale=(1, 5), nan_policy="pairwise")
    assert_allclose(table["alpha"], ref["alpha"], rtol=1e-8)
    assert (table["n_dropped"] == 0).all()


def test_reliability_table_shape_and_catalogue(small_survey):
    staff = small_survey.staff
    with pytest.warns(DroppedDataWarning, match="motivation"):
        table = tc.instrument_reliability(staff, "nhs-engagement")
    assert list(table.columns) == [
        "composite", "n_items", "n_obs", "n_dropped", "alpha", "ci_low", "ci_high",
        "std_alpha", "lambda6", "average_r", "omega_total",
    ]
    assert list(table.index) == ["motivation", "involvement", "advocacy", "engagement"]
    assert table["composite"].tolist() == [False, False, False, True]
    assert (table["n_obs"] + table["n_dropped"] == len(staff)).all()
    assert (table["ci_low"] < table["alpha"]).all() and (table["alpha"] < table["ci_high"]).all()
    # each row is cronbach_alpha on the complete cases of its items
    cols = ["mot1", "mot2", "mot3"]
    direct = tc.cronbach_alpha(staff[cols].dropna())
    assert_allclose(table.loc["motivation", "alpha"], direct.alpha, rtol=1e-12)
    # reverse-keyed catalogue items use the declared bounds (1..7)
    ps = staff[[f"ps{i}" for i in range(1, 8)]].dropna()
    t2 = tc.instrument_reliability(ps, "psych-safety-7")
    keyed = tc.cronbach_alpha(ps, keys=["-ps1", "ps2", "-ps3", "ps4", "-ps5", "ps6", "ps7"], scale=(1, 7))
    assert_allclose(t2["alpha"].iloc[0], keyed.alpha, rtol=1e-12)
    assert_allclose(t2["omega_total"].iloc[0], tc.omega(ps, n_factors=1, keys=["-ps1", "ps2", "-ps3", "ps4", "-ps5", "ps6", "ps7"],
                                                        scale=(1, 7)).omega_total, rtol=1e-10)


def test_reliability_validation(likert6, small_survey):
    with pytest.raises(ValueError, match=r"`instrument` 'real-team' is a classification rule"):
        tc.instrument_reliability(small_survey.staff, "real-team")
    with pytest.raises(ValueError, match=r"keys need the response scale: pass `scale=\(low, high\)`"):
        tc.instrument_reliability(likert6, SCORE_KEYS)
    with pytest.raises(ValueError, match=r"`ci_method` must be one of \['feldt', 'duhachek'\]; got 'exact'"):
        tc.instrument_reliability(likert6, SCORE_KEYS, scale=(1, 5), ci_method="exact")
    with pytest.raises(ValueError, match=r"`data` column 'A1' \(item 'A1'\) has 36 row\(s\) with invalid code\(s\) \[5\]"):
        tc.instrument_reliability(likert6, SCORE_KEYS, scale=(1, 4))
    before = likert6.copy()
    tc.instrument_reliability(likert6, SCORE_KEYS, scale=(1, 5))
    pd.testing.assert_frame_equal(likert6, before)


@settings(max_examples=15)
@given(likert_matrices(min_items=4, max_items=6), st.randoms(use_true_random=False))
def test_omega_total_invariant_to_order_and_not_mutating(x, rnd):
    before = x.copy()
    with warnings.catch_warnings():
        # small samples often put an item at the uniqueness bound (a flagged Heywood case)
        warnings.simplefilter("ignore", BoundaryWarning)
        base = tc.omega(x, n_factors=1)
        pd.testing.assert_frame_equal(x, before)
        rows = list(range(len(x)))
        cols = list(x.columns)
        rnd.shuffle(rows)
        rnd.shuffle(cols)
        perm = tc.omega(x.iloc[rows][cols], n_factors=1)
    assert_allclose(perm.omega_total, base.omega_total, rtol=1e-6, atol=1e-8)
    assert_allclose(perm.loadings.loc[base.loadings.index, "h2"], base.loadings["h2"], rtol=1e-5, atol=1e-7)


@settings(max_examples=20)
@given(st.integers(2, 9), st.integers(3, 5), st.integers(0, 2**32 - 1))
def test_multilevel_equals_slow_group_loop(n_groups, k, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=n_groups)
    sizes[0] = max(sizes[0], 2)  # at least one within-group degree of freedom
    labels = np.repeat([f"g{j}" for j in range(n_groups)], sizes)
    x = rng.standard_normal((len(labels), k)) + rng.standard_normal((n_groups, k)).repeat(sizes, axis=0)
    with warnings.catch_warnings():
        # small samples can give a negative between-group variance (then NaN between coefficients)
        warnings.simplefilter("ignore", BoundaryWarning)
        res = tc.multilevel_reliability(x, labels)
    n = len(labels)
    ssw = np.zeros((k, k))
    ssb = np.zeros((k, k))
    grand = x.mean(axis=0)
    for j in range(n_groups):
        xj = x[labels == f"g{j}"]
        d = xj - xj.mean(axis=0)
        ssw += d.T @ d
        m = (xj.mean(axis=0) - grand)[:, None]
        ssb += len(xj) * (m @ m.T)
    sw = ssw / (n - n_groups)
    c = (n - (sizes**2).sum() / n) / (n_groups - 1)
    sb = (ssb / (n_groups - 1) - sw) / c
    assert_allclose(res.cov_within.to_numpy(), sw, rtol=1e-9, atol=1e-12)
    assert_allclose(res.cov_between.to_numpy(), sb, rtol=1e-9, atol=1e-12)
    assert_allclose(res.alpha_within, k / (k - 1) * (1 - np.trace(sw) / sw.sum()), rtol=1e-9)


def test_multilevel_negative_between_variance_warns():
    # identical group means: the between-group variance estimate is negative
    x = np.array([[1.0, 2, 3], [3, 2, 1], [2, 1, 2], [2, 3, 2], [1, 1, 3], [3, 3, 1]])
    groups = ["a", "a", "b", "b", "c", "c"]
    # (the items also covary negatively within groups: alpha_within = -3 is flagged as below 0)
    with pytest.warns(BoundaryWarning, match=r"alpha_within = -3.0000 is below 0"), \
            pytest.warns(BoundaryWarning, match="non-positive between-group variance"):
        res = tc.multilevel_reliability(x, groups)
    assert np.isnan(res.alpha_between) and np.isnan(res.omega_between)
    # the -3 of the warning by its definition: pooled within-group covariance, k/(k-1) (1 - trace/sum)
    d = x - np.repeat(x.reshape(3, 2, 3).mean(axis=1), 2, axis=0)
    sw = d.T @ d / (len(x) - 3)
    assert res.alpha_within == pytest.approx(1.5 * (1 - np.trace(sw) / sw.sum()), rel=1e-12)
    assert res.alpha_within == pytest.approx(-3.0, abs=1e-12)


# ---------------------------------------------------------------------------
# the result protocol: pickle, ==, summary (text/HTML/LaTeX/Markdown), to_frame, to_dict
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["alpha", "omega", "multilevel"])
def test_results_follow_the_protocol(which, likert6, multilevel_data):
    import pickle

    from teamculture.results import Result

    make = {
        "alpha": lambda: tc.cronbach_alpha(likert6, keys=KEYS6, scale=(1, 5)),
        "omega": lambda: tc.omega(likert6, n_factors=1, keys=KEYS6, scale=(1, 5)),
        "multilevel": lambda: tc.multilevel_reliability(multilevel_data[["m1", "m2", "m3", "m4"]],
                                                        multilevel_data["g"]),
    }[which]
    res = make()
    assert isinstance(res, Result)
    again = pickle.loads(pickle.dumps(res))
    assert again == res and again is not res
    assert make() == res  # deterministic
    summary = res.summary()
    assert isinstance(summary, tc.Summary)
    assert str(summary) == str(res)
    assert "<table" in summary.as_html() and "\\toprule" in summary.as_latex() and "|" in summary.as_markdown()
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1
    assert all(frame[c].dtype.kind in "fiub" for c in frame.columns)
    plain = res.to_dict()
    assert plain["n_obs"] == res.n_obs and plain["n_dropped"] == res.n_dropped
    with pytest.raises(AttributeError):
        res.n_obs = 0  # frozen
    if which == "multilevel":
        assert list(frame.index) == ["within", "between"] and res.n_groups == 45
        with pytest.raises(TypeError, match="has no confidence interval"):
            res.confidence_interval()
