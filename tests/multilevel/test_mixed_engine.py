"""The exact nested engine: lme4 oracles, a dense-matrix oracle, derivatives, recovery.

Oracles
-------
* ``tests/reference/lme4_engine_extra.json`` (``lme4_engine_extra.R``): lme4
  1.1-31 + lmerTest 3.1-3 refitted with very tight optimiser tolerances, so
  that its estimates are accurate to far better than the rtol 1e-5 used here
  (lme4's default tolerances leave ~1e-5 relative error in the variance
  components: the default-tolerance fixtures of ``lme4_reference.json`` are
  used for the criterion check only, where we must be at least as good).
* A dense-matrix implementation of the profiled REML/ML criterion, the GLS
  estimates and the conditional modes, written below from the textbook
  formulas (n x n matrices), on random small unbalanced designs (Hypothesis).
* lmerTest's numerical derivatives are replaced by exact ones in the engine;
  they are checked against Richardson-extrapolated finite differences.
* ``lme4::Pastes`` (classic data set) is read through R at test time when
  Rscript is available.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import _mixed_fixtures as fx
import teamculture as tc
from teamculture.multilevel._engine import NestedModel
from teamculture.multilevel._satterthwaite import richardson_hessian, richardson_jacobian
from teamculture.errors import NotNestedError
from teamculture.multilevel._suffstats import NestedSuffStats, nested_suffstats


EXTRA = fx.engine_extra()
HAS_R = shutil.which("Rscript") is not None

# iterative fits: documented tolerance for agreement with (tightly converged) lme4
RTOL = 1e-5


def _our_group(name: str) -> str:
    """lme4's grouping name (``team:(trust:region)``) -> ours (``region:trust:team``)."""
    return ":".join(reversed(name.replace("(", "").replace(")", "").split(":")))


def _our_level(label: str) -> str:
    return ":".join(reversed(label.split(":")))


def _fit(model_id: str, method: str):
    spec = EXTRA[model_id]
    return fx.mixed_fit(spec["formula"], fx.reference_data(spec["data"]), reml=(method == "REML")), spec[method]


CASES = [(m, meth) for m in EXTRA for meth in ("REML", "ML")]


@pytest.fixture(scope="module")
def fits():
    return {case: _fit(*case) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_matches_tight_lme4(fits, case):
    fit, ref = fits[case]
    assert fit.engine == "nested"
    assert fit.n_obs == int(ref["nobs"])
    # the optimum: criterion no worse than lme4's
    assert fit.deviance <= ref["criterion"] + 1e-6
    assert_allclose(fit.deviance, ref["criterion"], rtol=1e-10, atol=1e-6)
    assert_allclose(fit.loglik, ref["loglik"], rtol=1e-10, atol=5e-7)
    # fixed effects (same column order as R's model matrix)
    assert_allclose(fit.fixed_effects.to_numpy(), ref["fixef"], rtol=RTOL, atol=1e-9)
    assert_allclose(fit.cov_params.to_numpy(), np.array(ref["vcov"]), rtol=RTOL, atol=1e-10)
    # variance components by name (zero components compared absolutely)
    want = {(_our_group(g) if g != "Residual" else "residual"): v for g, v in zip(ref["vc_groups"], ref["vc"])}
    got = fit.variance_components
    assert set(got.index) == set(want)
    for name, value in want.items():
        assert_allclose(got[name], value, rtol=RTOL, atol=1e-9, err_msg=name)
    assert_allclose(fit.variance_components["residual"], ref["sigma2"], rtol=RTOL)
    assert fit.singular == ref["singular"]
    # Satterthwaite df and p-values (lmerTest)
    assert_allclose(fit.coefficients["df"].to_numpy(), ref["df"], rtol=RTOL)
    assert_allclose(fit.coefficients["pvalue"].to_numpy(), ref["pvalue"], rtol=1e-4, atol=1e-12)
    # conditional modes and conditional variances
    for g, re in ref["ranef"].items():
        ours = fit.random_effects[_our_group(g)]
        levels = [_our_level(lv) for lv in re["levels"]]
        assert set(ours.index) == set(levels)
        ours = ours.loc[levels]
        assert_allclose(ours["blup"].to_numpy(), re["blup"], rtol=RTOL, atol=1e-7, err_msg=g)
        assert_allclose(ours["cond_var"].to_numpy(), re["cond_var"], rtol=RTOL, atol=1e-9, err_msg=g)


def test_zero_variance_is_exactly_zero_and_flagged(fits):
    fit, ref = fits[("tiny_zero", "REML")]
    assert ref["singular"]
    assert fit.variance_components["trust:team"] == 0.0
    assert fit.theta["trust:team"] == 0.0
    assert fit.singular
    assert any("singular" in n for n in fit.notes)
    # BLUPs of a zero component are zero with zero conditional variance
    re = fit.random_effects["trust:team"]
    assert np.all(re["blup"] == 0.0) and np.all(re["cond_var"] == 0.0)


@pytest.mark.parametrize("model_id", [m for m, f in fx.lme4_reference()["models"].items()
                                      if "x |" not in f["formula"] and "+ x |" not in f["formula"]])
def test_criterion_not_worse_than_default_lme4(model_id):
    """Against part B's default-tolerance lme4 fits: we reach at least lme4's optimum."""
    ref = fx.lme4_reference()["models"][model_id]
    data = fx.mixed_data(ref["dataset"])
    for method in ("REML", "ML"):
        fit = fx.mixed_fit(ref["formula"], data, reml=(method == "REML"))
        r = ref[method]
        crit = r["remlcrit"] if method == "REML" else r["deviance"]
        assert fit.deviance <= crit + 1e-6
        assert fit.deviance >= crit - 1e-5  # and it is the same optimum
        assert fit.n_params == int(r["loglik_df"])
        assert_allclose(fit.n_groups.sort_index().to_numpy(),
                        [r["ngrps"][k] for k in sorted(r["ngrps"], key=_our_group)], rtol=0)


# --------------------------------------------------------------------------- dense oracle
def _dense(X, y, Zs, theta, reml):
    """Profiled criterion, GLS beta, sigma^2 and conditional modes with n x n matrices."""
    n, p = X.shape
    M = np.eye(n)
    for Z, t in zip(Zs, theta):
        M += t**2 * Z @ Z.T
    Mi = np.linalg.inv(M)
    A = X.T @ Mi @ X
    beta = np.linalg.solve(A, X.T @ Mi @ y)
    r = y - X @ beta
    rss = r @ Mi @ r
    logdet = np.linalg.slogdet(M)[1]
    if reml:
        nu = n - p
        crit = nu * (1 + np.log(2 * np.pi * rss / nu)) + logdet + np.linalg.slogdet(A)[1]
    else:
        nu = n
        crit = n * (1 + np.log(2 * np.pi * rss / n)) + logdet
    sigma2 = rss / nu
    modes = []
    for Z, t in zip(Zs, theta):
        G = t**2 * sigma2
        blup = G * Z.T @ Mi @ r / sigma2
        cvar = G - G**2 * np.einsum("ij,jk,ki->i", Z.T, Mi / sigma2, Z)
        modes.append((blup, cvar))
    return crit, beta, sigma2, np.linalg.inv(A) * sigma2, modes


def _random_design(seed: int, depth: int):
    rng = np.random.default_rng(seed)
    n_top = int(rng.integers(2, 5))
    paths = []
    def grow(prefix, level):
        if level == depth:
            for _ in range(int(rng.integers(1, 5))):
                paths.append(prefix)
            return
        for c in range(int(rng.integers(1, 4))):
            grow(prefix + (c,), level + 1)
    for k in range(n_top):
        grow((k,), 1)
    n = len(paths)
    codes = []
    for lev in range(depth):
        keys = [p[: lev + 1] for p in paths]
        uniq = {k: i for i, k in enumerate(sorted(set(keys)))}
        codes.append(np.array([uniq[k] for k in keys]))
    p = int(rng.integers(1, 3))
    X = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(p)])
    if p == 2:  # a covariate constant within the top-level clusters (a trust-level predictor)
        X[:, 2] = rng.normal(size=codes[0].max() + 1)[codes[0]]
    y = rng.normal(size=n) + X @ rng.normal(size=p + 1)
    if rng.random() < 0.3:  # no intercept: the uncentred path
        X = X[:, 1:]
    theta = rng.uniform(0, 2, depth)
    theta[rng.random(depth) < 0.2] = 0.0
    perm = rng.permutation(n)  # rows in random order
    return X[perm], y[perm], [c[perm] for c in codes], theta


@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3), reml=st.booleans())
def test_engine_equals_dense_implementation(seed, depth, reml):
    X, y, codes, theta = _random_design(seed, depth)
    if len(y) < X.shape[1] + 2:
        return
    model = NestedModel(nested_suffstats(X, y, codes))
    Zs = [np.eye(c.max() + 1)[c] for c in codes]
    crit, beta, sigma2, cov, modes = _dense(X, y, Zs, theta, reml)
    assert_allclose(model.criterion(theta, reml), crit, rtol=1e-10, atol=1e-10)
    b, s2, c = model.estimates(theta, reml)
    assert_allclose(b, beta, rtol=1e-8, atol=1e-10)
    assert_allclose(s2, sigma2, rtol=1e-9)
    assert_allclose(c, cov, rtol=1e-8, atol=1e-12)
    from teamculture.multilevel._engine import NestedFit

    fit = NestedFit(theta=theta, beta=b, sigma2=s2, cov_beta=c, criterion=crit, reml=reml,
                    converged=True, n_evals=0)
    for lev, (blup, cvar) in enumerate(model.conditional_modes(fit)):
        order = model.stats.orders[lev]
        assert_allclose(blup, modes[lev][0][order], rtol=1e-7, atol=1e-10)
        assert_allclose(cvar, modes[lev][1][order], rtol=1e-7, atol=1e-10)


@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3))
def test_fit_is_the_dense_optimum(seed, depth):
    """The fitted criterion is no worse than a dense-criterion optimisation from the same point."""
    from scipy import optimize

    X, y, codes, _ = _random_design(seed, depth)
    if len(y) < X.shape[1] + 3:
        return
    model = NestedModel(nested_suffstats(X, y, codes))
    fit = model.fit(reml=True)
    Zs = [np.eye(c.max() + 1)[c] for c in codes]
    dense = lambda t: _dense(X, y, Zs, t, True)[0]  # noqa: E731
    best = optimize.minimize(dense, np.full(depth, 0.7), method="Nelder-Mead",
                             options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000})
    assert fit.criterion <= best.fun + 1e-6
    assert_allclose(fit.criterion, dense(fit.theta), rtol=1e-10, atol=1e-9)


@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3), reml=st.booleans())
def test_exact_derivatives_match_finite_differences(seed, depth, reml):
    X, y, codes, theta = _random_design(seed, depth)
    if len(y) < X.shape[1] + 2:
        return
    theta = np.maximum(theta, 0.05)
    model = NestedModel(nested_suffstats(X, y, codes))
    g, H = model.criterion_derivatives(theta, reml)
    f = lambda t: model.criterion(t, reml)  # noqa: E731
    assert_allclose(g, richardson_jacobian(lambda t: np.array([f(t)]), theta)[0], rtol=1e-5, atol=1e-6)
    assert_allclose(H, richardson_hessian(f, theta), rtol=1e-5, atol=1e-5)
    varpar = np.r_[theta, 0.8]
    Hv, cov, J = model.varpar_derivatives(varpar, reml)
    assert_allclose(Hv, richardson_hessian(lambda v: model.deviance_varpar(v, reml), varpar), rtol=1e-5, atol=1e-5)
    p = X.shape[1]
    Jn = richardson_jacobian(model.cov_beta_varpar, varpar).reshape(p, p, len(varpar))
    assert_allclose(J, Jn, rtol=1e-5, atol=1e-9)
    assert_allclose(cov, model.cov_beta_varpar(varpar), rtol=1e-10)


# --------------------------------------------------------------------------- suffstats
def test_suffstats_from_any_dataframe_engine():
    """Per-team sums computed by a plain pandas groupby give the same fit (the scale-out route)."""
    data = fx.reference_data("unbalanced3.csv")
    X = np.column_stack([np.ones(len(data)), data["x"], data["z"]])
    y = data["y"].to_numpy()
    trust = pd.factorize(data["trust"], sort=True)[0]
    team = pd.factorize(data["team"], sort=True)[0]
    ours = nested_suffstats(X, y, [trust, team])
    # the same statistics from a groupby (as a database would compute them)
    w = pd.DataFrame(np.column_stack([X, y]), columns=["c0", "c1", "c2", "y"])
    w["trust"], w["team"] = trust, team
    g = w.groupby("team")
    counts = g.size().to_numpy(dtype=float)
    sums = g[["c0", "c1", "c2", "y"]].sum().to_numpy()
    sumsq = sum(np.einsum("i,j->ij", row, row) for row in w[["c0", "c1", "c2", "y"]].to_numpy())
    means = sums / counts[:, None]
    within = sumsq - (means.T * counts) @ means
    team_trust = g["trust"].first().to_numpy()
    order = np.argsort(team_trust, kind="stable")
    stats = NestedSuffStats(nobs=len(y), ncols=3, within=within, counts=counts[order], means=means[order],
                            parents=(team_trust[order],), orders=(np.arange(trust.max() + 1), order))
    f1 = NestedModel(ours).fit(reml=True)
    f2 = NestedModel(stats).fit(reml=True)
    assert_allclose(f2.criterion, f1.criterion, rtol=1e-10)
    assert_allclose(f2.theta, f1.theta, rtol=1e-6)
    assert_allclose(f2.beta, f1.beta, rtol=1e-8)


def test_suffstats_rejects_non_nested_codes():
    X = np.ones((4, 1))
    with pytest.raises(NotNestedError, match=r"`codes\[1\]` is not nested in `codes\[0\]`: 1 cluster\(s\).*codes \[1\]"):
        nested_suffstats(X, np.arange(4.0), [np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2])])


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((np.ones(4), np.arange(4.0), [[0, 0, 1, 1]]), ValueError, r"`X` must be a two-dimensional .*got shape \(4,\)"),
    ((np.ones((4, 1)), np.arange(3.0), [[0, 0, 1, 1]]), ValueError, r"`y` must be one-dimensional .*\(4\); got shape \(3,\)"),
    ((np.ones((4, 1)), [0.0, 1.0, np.nan, 3.0], [[0, 0, 1, 1]]), ValueError, r"`y` must be finite; 1 row\(s\) are not: \[2\]"),
    ((np.array([[1.0], [np.inf], [1.0], [1.0]]), np.arange(4.0), [[0, 0, 1, 1]]), ValueError,
     r"`X` must be finite; 1 row\(s\) are not: \[1\]"),
    ((np.ones((4, 1)), np.arange(4.0), []), ValueError, "`codes` must hold the cluster codes of at least one level"),
    ((np.ones((4, 1)), np.arange(4.0), np.array([0, 0, 1, 1])), TypeError, "got a single array: wrap it in a list"),
    ((np.ones((4, 1)), np.arange(4.0), [[0, 0, 1]]), ValueError, r"`codes\[0\]` must have one code per row of `X` \(4\)"),
    ((np.ones((4, 1)), np.arange(4.0), [[0, 0, 1, 1], [0, 1, 3, 3]]), ValueError,
     r"`codes\[1\]` must use every code 0..3; 1 code\(s\) never occur: \[2\]"),
    ((np.ones((4, 1)), np.arange(4.0), [[0, 0, -1, 1]]), ValueError, r"`codes\[0\]` must be >= 0; 1 negative code\(s\) \[-1\]"),
    ((np.ones((4, 1)), np.arange(4.0), [[0, 0, 1.5, 1]]), ValueError, r"`codes\[0\]` must hold integer codes 0..G-1; 1 value\(s\) are not: \[1.5\]"),
    ((np.ones((4, 1)), np.arange(4.0), [list("aabb")]), TypeError, r"`codes\[0\]` must hold integer codes 0..G-1; got dtype <U1"),
])
def test_suffstats_validation(args, exc, match):
    """Bad inputs used to give NaN statistics (an unused code), wrap silently (negative or
    fractional codes) or fail with a NumPy broadcasting error."""
    with pytest.raises(exc, match=match):
        nested_suffstats(*args)


def test_nested_model_validation():
    stats = nested_suffstats(np.ones((6, 1)), np.array([1.0, 2, 3, 5, 7, 8]), [np.array([0, 0, 1, 1, 2, 2])])
    with pytest.raises(TypeError, match="`stats` must be a NestedSuffStats .*; got dict"):
        NestedModel({})
    model = NestedModel(stats)
    with pytest.raises(TypeError, match="`reml` must be True \\(REML\\) or False \\(ML\\); got 'yes'"):
        model.fit(reml="yes")
    # a theta of the wrong length used to be accepted (extra entries ignored)
    with pytest.raises(ValueError, match=r"`theta` must hold one relative SD per random-intercept level \(1\); got shape \(2,\)"):
        model.criterion([1.0, 2.0], True)
    with pytest.raises(ValueError, match=r"`start` must hold one relative SD per random-intercept level \(1\)"):
        model.fit(start=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"`start` must be finite; got \[nan\]"):
        model.fit(start=[np.nan])


def test_suffstats_accepts_integral_float_codes():
    X, y = np.ones((4, 1)), np.arange(4.0)
    a = nested_suffstats(X, y, [np.array([0.0, 0.0, 1.0, 1.0])])
    b = nested_suffstats(X, y, [np.array([0, 0, 1, 1])])
    assert_allclose(a.means, b.means, rtol=0, atol=0)
    assert_allclose(a.within, b.within, rtol=0, atol=0)


@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1))
def test_fit_invariant_to_row_order_and_labels(seed):
    data = fx.reference_data("unbalanced3.csv")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(data))
    shuffled = data.iloc[perm].reset_index(drop=True)
    relabel = {t: f"Z{i:03d}" for i, t in enumerate(rng.permutation(data["team"].unique()))}
    shuffled["team"] = shuffled["team"].map(relabel)
    a = tc.mixed("y ~ x + z + (1 | trust) + (1 | team)", data)
    b = tc.mixed("y ~ x + z + (1 | trust) + (1 | team)", shuffled)
    assert_allclose(b.deviance, a.deviance, rtol=1e-10)
    assert_allclose(b.fixed_effects.to_numpy(), a.fixed_effects.to_numpy(), rtol=1e-7)
    assert_allclose(b.variance_components.to_numpy(), a.variance_components.to_numpy(), rtol=1e-6)
    blup_a = a.random_effects["team"]["blup"].rename(index=relabel).sort_index()
    assert_allclose(b.random_effects["team"]["blup"].sort_index().to_numpy(), blup_a.to_numpy(),
                    rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- recovery
def test_parameter_recovery_on_simulated_survey(small_survey):
    """Truth: 0.30 * real - 0.01 * (tenure - 8), variances 0.02 / 0.08 / 0.60."""
    staff = small_survey.staff.assign(real=lambda d: (d["team_type"] == "real").astype(float))
    fit = tc.mixed("latent_engagement ~ real + I(tenure - 8) + (1 | trust/team)", staff)
    p = small_survey.params
    truth = {"Intercept": p.intercept, "real": p.beta_real_team, "I(tenure - 8)": p.beta_tenure}
    for name, value in truth.items():
        z = (fit.fixed_effects[name] - value) / fit.coefficients["std_error"][name]
        assert abs(z) < 4, (name, fit.fixed_effects[name], value)
        ci = fit.confidence_interval(0.9999)
        assert ci.loc[name, "ci_low"] < value < ci.loc[name, "ci_high"]
    vc = fit.variance_components
    # 10,000 staff, 500 teams, 20 trusts: residual and team variances are precise, trust less so
    assert abs(vc["residual"] - p.sigma2) < 0.03
    assert abs(vc["trust:team"] - p.tau2_team) < 0.03
    assert 0.003 < vc["trust"] < 0.08
    # BLUPs track the true team effects
    true_team = small_survey.teams["true_effect"]
    blup = fit.random_effects["trust:team"]["blup"]
    team_ids = [lab.split(":", 1)[1] for lab in blup.index]
    r = np.corrcoef(blup.to_numpy(), true_team.loc[team_ids].to_numpy())[0, 1]
    assert r > 0.6


# --------------------------------------------------------------------------- classic data (R at test time)
@pytest.mark.needs_r
@pytest.mark.skipif(not HAS_R, reason="Rscript not available")
def test_pastes_against_lme4(tmp_path):
    """lme4's Pastes (strength ~ 1 + (1 | batch/cask)), read through R, refitted by lme4 there."""
    script = tmp_path / "pastes.R"
    csv = tmp_path / "pastes.csv"
    out = tmp_path / "pastes.txt"
    script.write_text(
        "suppressPackageStartupMessages(library(lme4))\n"
        f"write.csv(Pastes, '{csv}', row.names = FALSE)\n"
        "ctrl <- lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15,"
        " xtol_rel = 1e-14, ftol_rel = 1e-15, maxeval = 1e5))\n"
        "res <- c()\n"
        "for (reml in c(TRUE, FALSE)) {\n"
        "  m <- lmer(strength ~ 1 + (1 | batch/cask), Pastes, REML = reml, control = ctrl)\n"
        "  vc <- as.data.frame(VarCorr(m))\n"
        "  crit <- if (reml) REMLcrit(m) else deviance(m)\n"
        "  res <- c(res, crit, fixef(m), vc$vcov[vc$grp == 'batch'], vc$vcov[vc$grp == 'cask:batch'],"
        " sigma(m)^2)\n"
        "}\n"
        f"writeLines(sprintf('%.17g', res), '{out}')\n"
    )
    subprocess.run(["Rscript", str(script)], check=True, capture_output=True, timeout=120)
    data = pd.read_csv(csv, dtype={"batch": str, "cask": str, "sample": str})
    ref = np.loadtxt(out).reshape(2, 5)
    for row, reml in zip(ref, (True, False)):
        fit = tc.mixed("strength ~ 1 + (1 | batch/cask)", data, reml=reml)
        assert fit.deviance <= row[0] + 1e-6
        assert_allclose(fit.deviance, row[0], rtol=1e-10)
        assert_allclose(fit.fixed_effects["Intercept"], row[1], rtol=RTOL)
        assert_allclose(fit.variance_components[["batch", "batch:cask", "residual"]].to_numpy(),
                        row[2:], rtol=RTOL)


@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3))
def test_design_reparameterisation(seed, depth):
    """X -> X T: the ML deviance is unchanged, the REML criterion moves by 2 log|det T| (closed form)."""
    X, y, codes, theta = _random_design(seed, depth)
    if len(y) < X.shape[1] + 2:
        return
    rng = np.random.default_rng(seed + 1)
    T = np.eye(X.shape[1]) + np.triu(rng.normal(size=(X.shape[1],) * 2), 1) + np.diag(rng.uniform(0.5, 2, X.shape[1]))
    a = NestedModel(nested_suffstats(X, y, codes))
    b = NestedModel(nested_suffstats(X @ T, y, codes))
    assert_allclose(b.criterion(theta, False), a.criterion(theta, False), rtol=1e-10, atol=1e-9)
    shift = 2 * np.log(abs(np.linalg.det(T)))
    assert_allclose(b.criterion(theta, True), a.criterion(theta, True) + shift, rtol=1e-10, atol=1e-9)


def test_formula_route_equals_array_route():
    """tc.mixed (pandas/formula front) and NestedModel on arrays give identical numbers."""
    data = fx.reference_data("unbalanced3.csv")
    fit = tc.mixed("y ~ x + z + (1 | trust) + (1 | team)", data)
    X = np.column_stack([np.ones(len(data)), data["x"], data["z"]])
    trust = pd.factorize(data["trust"])[0]
    team = pd.factorize(data["team"])[0]
    arr = NestedModel(nested_suffstats(X, data["y"].to_numpy(), [trust, team])).fit(reml=True)
    assert_allclose(fit.deviance, arr.criterion, rtol=1e-12)
    assert_allclose(fit.fixed_effects.to_numpy(), arr.beta, rtol=1e-9)
    assert_allclose(fit.cov_params.to_numpy(), arr.cov_beta, rtol=1e-8)
    assert_allclose(fit.variance_components.to_numpy(), np.r_[arr.variances, arr.sigma2], rtol=1e-8)
