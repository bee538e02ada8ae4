"""The :func:`mixed` front end: formula, data, engine dispatch (private; see :mod:`teamculture.multilevel`).

Multilevel (linear mixed) models with lme4's formula syntax.

:func:`mixed` fits ``y ~ x + (1 | trust/team)``-style models. Nested random
intercepts of any depth use an exact engine that works from per-cluster sums
(:mod:`teamculture.multilevel._suffstats`, :mod:`teamculture.multilevel._engine`);
other random-effects structures (random slopes, crossed factors) use a
guarded statsmodels MixedLM backend. :func:`center` builds grand-mean and
within-cluster centred predictors and cluster means.

The nested engine is usable in two steps, so that the only pass over the
rows can be done by any dataframe engine (pandas here; Dask, Spark or a
database elsewhere): :func:`nested_suffstats` (data to per-cluster sums,
:class:`NestedSuffStats`), then :class:`NestedModel` (sums to the REML/ML
fit, :class:`NestedFit`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from teamculture.errors import DroppedDataWarning, TeamcultureWarning
from teamculture.multilevel._formula import ParsedFormula, RandomTerm, parse_formula
from teamculture.multilevel._engine import NestedModel
from teamculture.multilevel._results import MixedResult
from teamculture.multilevel._suffstats import nested_suffstats

__all__ = ["mixed"]


# --------------------------------------------------------------------------- validation
def _validate_mixed(formula: Any, data: Any, reml: Any) -> ParsedFormula:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame; got {type(data).__name__}.")
    if not isinstance(reml, (bool, np.bool_)):
        raise TypeError(f"`reml` must be True (REML) or False (ML); got {reml!r}.")
    parsed = parse_formula(formula)
    missing = [c for c in parsed.group_columns if c not in data.columns]
    if missing:
        from teamculture._core.validation import few

        raise ValueError(
            f"`formula` names grouping column(s) {few(missing)} that are not in `data`; "
            f"available columns: {few(list(data.columns), 10)}."
        )
    return parsed


def _model_variables(parsed: ParsedFormula, data: pd.DataFrame) -> list[str]:
    from formulaic import Formula

    from teamculture._core.validation import few

    rhs = parsed.fixed
    for t in parsed.random:
        for s in t.slopes:
            rhs += f" + {s}"
    try:
        req = Formula(f"{parsed.response} ~ {rhs}").required_variables
    except Exception as exc:  # formulaic raises several parser error types
        raise ValueError(f"`formula`: could not parse the fixed part {rhs!r}: {exc}") from exc
    names = sorted({str(v) for v in req if str(v) in data.columns})
    unknown = sorted({str(v) for v in req} - set(data.columns) - {"np", "numpy", "C", "I"})
    # formulaic reports module attributes (np.log) and functions as variables too
    unknown = [u for u in unknown if "." not in u and u not in _KNOWN_FUNCTIONS]
    if unknown:
        raise ValueError(
            f"`formula` names variable(s) {few(unknown)} that are not columns of `data`; "
            f"available columns: {few(list(data.columns), 10)}."
        )
    return names + [c for c in parsed.group_columns if c not in names]


_KNOWN_FUNCTIONS = frozenset({"log", "exp", "sqrt", "abs", "center", "scale", "poly", "bs", "lag",
                              "Q", "T", "S", "Treatment", "Sum", "Helmert", "Diff", "Poly"})


# --------------------------------------------------------------------------- grouping
def _group_codes(term: RandomTerm, frame: pd.DataFrame,
                 cache: dict[str, tuple[np.ndarray, pd.Index]]) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and lme4-style labels of a grouping factor (``a:b`` joined by ':').

    ``cache`` holds the factorisation of each column (shared between terms).
    """
    parts = []
    for f in term.factors:
        if f not in cache:
            codes_f, labels_f = pd.factorize(frame[f], sort=True)
            cache[f] = (codes_f.astype(np.intp), pd.Index(labels_f))
        parts.append(cache[f])
    if len(parts) == 1:
        codes, labels = parts[0]
        return codes, labels.rename(term.group)
    combined = np.zeros(len(frame), dtype=np.int64)
    for codes_f, labels_f in parts:
        combined = combined * len(labels_f) + codes_f
    codes, uniq = pd.factorize(combined, sort=True)
    # decode each combination into its per-column label positions
    rest = uniq.astype(np.int64)
    idx = []
    for _, labels_f in reversed(parts):
        idx.append(rest % len(labels_f))
        rest = rest // len(labels_f)
    idx.reverse()
    strs = [np.asarray(labels_f.astype(str), dtype=object)[i] for (_, labels_f), i in zip(parts, idx)]
    labels = strs[0]
    for piece in strs[1:]:
        labels = labels + ":" + piece
    return codes.astype(np.intp), pd.Index(labels, name=term.group, dtype=object)


def _nesting_order(parsed: ParsedFormula, codes: dict[str, np.ndarray], sizes: dict[str, int]) -> list[str] | None:
    """Grouping names ordered coarse to fine if they form a nested chain, else ``None``."""
    from teamculture.multilevel._suffstats import _parent_map

    order = sorted(dict.fromkeys(parsed.group_names), key=lambda g: (sizes[g], len(g)))
    for a, b in zip(order[:-1], order[1:]):
        if _parent_map(codes[b], codes[a], sizes[b]) is None:
            return None
    return order


def _describe_nesting(parsed: ParsedFormula, frame: pd.DataFrame, order: list[str] | None,
                      codes_of: dict[str, np.ndarray], sizes: dict[str, int]) -> str:
    notes = []
    terms = {t.group: t for t in parsed.random}
    for t in parsed.random:
        if len(t.factors) < 2:
            continue
        inner, outer = t.factors[-1], t.factors[:-1]
        n_inner = int(codes_of[inner].max()) + 1
        n_combo = sizes[t.group]
        if n_combo > n_inner:
            notes.append(
                f"'{inner}' labels are reused across '{':'.join(outer)}' ({n_inner:,} distinct labels, "
                f"{n_combo:,} {':'.join(outer)}:{inner} combinations), so the nested term "
                f"(1 | {t.group}) is required and is used"
            )
        else:
            notes.append(
                f"'{inner}' labels are unique across '{':'.join(outer)}'; (1 | {t.group}) has one "
                f"group per {inner}"
            )
    single = [g for g in dict.fromkeys(parsed.group_names) if len(terms[g].factors) == 1]
    if order is not None and len(single) > 1:
        chain = [g for g in order if g in single]
        pairs = ", ".join(f"'{b}' labels are unique across '{a}'" for a, b in zip(chain[:-1], chain[1:]))
        same = ""
        if all(terms[g].is_intercept_only for g in chain):
            same = (" + ".join(f"(1 | {g})" for g in chain)
                    + f" is the same model as (1 | {'/'.join(chain)})")
        notes.append(f"{pairs} (each lies in one group of the coarser factor): the factors are nested"
                     + (f"; {same}" if same else ""))
    if order is None:
        crossed = []
        for i, a in enumerate(single):
            for b in single[i + 1:]:
                n_multi = int((frame.groupby(b, observed=True)[a].nunique() > 1).sum())
                if n_multi:
                    crossed.append(f"{n_multi:,} '{b}' labels occur in more than one '{a}'")
        detail = f" ({'; '.join(crossed)})" if crossed else ""
        notes.append(f"the grouping factors are not nested{detail}, so lme4 would treat them as crossed")
    return "; ".join(notes)


# --------------------------------------------------------------------------- fit
def _fixed_design(parsed: ParsedFormula, frame: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    from formulaic import model_matrix

    from teamculture._core.validation import few

    mm = model_matrix(f"{parsed.response} ~ {parsed.fixed}", frame, na_action="ignore")
    y = pd.Series(np.asarray(mm.lhs, dtype=np.float64).ravel(), index=frame.index,
                  name=parsed.response)
    X = pd.DataFrame(np.asarray(mm.rhs, dtype=np.float64), index=frame.index,
                     columns=[str(c) for c in mm.rhs.columns])
    if X.shape[1] == 0:
        raise ValueError("`formula` has no fixed effects (not even an intercept); add '1 +'.")
    xv = X.to_numpy()
    xtx = xv.T @ xv
    rank = np.linalg.matrix_rank(xtx, hermitian=True)
    if rank < X.shape[1]:
        # as R's lm aliasing: a column is redundant if it adds no rank to the columns before it
        keep: list[int] = []
        dropped = []
        for j in range(X.shape[1]):
            trial = keep + [j]
            if np.linalg.matrix_rank(xtx[np.ix_(trial, trial)], hermitian=True) == len(trial):
                keep.append(j)
            else:
                dropped.append(X.columns[j])
        raise ValueError(
            f"`formula`: the fixed-effects design is rank deficient (rank {rank} < {X.shape[1]} columns); "
            f"column(s) {few(dropped)} are linear combinations of the columns before them. "
            "Remove them from the formula."
        )
    return y, X


def _fit_nested(parsed: ParsedFormula, y: pd.Series, X: pd.DataFrame, group_codes: dict[str, np.ndarray],
                group_labels: dict[str, pd.Index], order: list[str], reml: bool,
                meta: dict[str, Any], model: Any = None) -> MixedResult:
    from scipy import stats

    from teamculture.multilevel._satterthwaite import satterthwaite_from_derivatives

    if model is None:
        st = nested_suffstats(X.to_numpy(), y.to_numpy(), [group_codes[g] for g in order])
        model = NestedModel(st)
    st = model.stats
    fit = model.fit(reml=reml)
    names = list(X.columns)
    p = len(names)
    sigma = np.sqrt(fit.sigma2)
    varpar = np.r_[fit.theta, sigma]
    H, _, J = model.varpar_derivatives(varpar, reml)
    df, _ = satterthwaite_from_derivatives(H, fit.cov_beta, J)
    fe = pd.Series(fit.beta, index=names, name="fixed_effects")
    bse = pd.Series(np.sqrt(np.diag(fit.cov_beta)), index=names, name="bse")
    tval = fe / bse
    dfs = pd.Series(df, index=names, name="df")
    pval = pd.Series(2.0 * stats.t.sf(np.abs(tval.to_numpy()), df), index=names, name="pvalues")
    vc = pd.Series(np.r_[fit.variances, fit.sigma2], index=[*order, "residual"], name="variance", dtype=float)
    # put the variance components in formula order (then residual)
    vc = vc.reindex([*parsed.group_names, "residual"])
    theta = pd.Series(fit.theta, index=order, name="theta").reindex(list(parsed.group_names))
    ranef = {}
    for lev, (blup, cvar) in enumerate(model.conditional_modes(fit)):
        g = order[lev]
        labels = group_labels[g][st.orders[lev]]
        ranef[g] = pd.DataFrame({"blup": blup, "cond_var": cvar}, index=labels)
    ranef = {g: ranef[g] for g in parsed.group_names}
    singular = bool(np.any(fit.theta < 1e-4))
    notes = list(meta["notes"])
    if singular:
        zero = [order[k] for k in range(len(order)) if fit.theta[k] < 1e-4]
        notes.append(
            f"singular fit: the variance of {', '.join(repr(z) for z in zero)} is estimated at "
            "(or within 1e-4 relative SD of) zero"
        )
    if not fit.converged:
        notes.append("the optimiser did not confirm convergence")

    def refit(new_reml: bool) -> MixedResult:
        return _fit_nested(parsed, y, X, group_codes, group_labels, order, new_reml, meta, model=model)

    return MixedResult(
        formula=parsed.formula,
        fixed_effects=fe,
        bse=bse,
        cov_params=pd.DataFrame(fit.cov_beta, index=names, columns=names),
        df=dfs,
        tvalues=tval.rename("tvalues"),
        pvalues=pval,
        variance_components=vc,
        loglik=-0.5 * fit.criterion,
        deviance=fit.criterion,
        reml=reml,
        nobs=int(st.nobs),
        nobs_dropped=int(meta["nobs_dropped"]),
        ngroups=pd.Series({g: len(group_labels[g]) for g in parsed.group_names}, name="ngroups", dtype=np.int64),
        n_params=p + len(order) + 1,
        random_effects=ranef,
        design=X,
        response=y,
        group_labels=meta["group_frame"],
        engine="nested",
        singular=singular,
        converged=fit.converged,
        nesting=meta["nesting"],
        theta=theta,
        notes=tuple(notes),
        _refit=refit,
        _nested_order=tuple(order),
    )


def mixed(formula: str, data: pd.DataFrame, *, reml: bool = True) -> MixedResult:
    """Fit a linear mixed model written with lme4's formula syntax.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (1 | trust/team)"``. The fixed part uses formulaic
        (``C(x)``, ``a:b``, ``a*b``, ``np.log(x)``, ``I(x**2)``; an intercept
        unless ``0 +`` / ``- 1``). Random terms: ``(1 | g)``; nested
        ``(1 | a/b)`` = ``(1 | a) + (1 | a:b)``, any depth; ``(1 | a:b)``;
        random slopes ``(1 + x | g)``.
    data : pandas.DataFrame
        One row per observation. Rows with a missing value in any model
        variable (response, predictors, grouping columns) are dropped and
        counted (``nobs_dropped``, a :class:`~teamculture.errors.DroppedDataWarning`).
    reml : bool, default True
        Restricted maximum likelihood (lme4's default); ``False`` for ML.

    Returns
    -------
    MixedResult
        Estimates, Satterthwaite tests, variance components, BLUPs; see
        :class:`~teamculture.multilevel.MixedResult`.

    Notes
    -----
    The model is :math:`y = X\\beta + \\sum_l Z_l b_l + e` with
    :math:`b_l \\sim N(0, \\tau_l^2 I)` and :math:`e \\sim N(0, \\sigma^2 I)`.
    **Engines.** When every random term is a random intercept and the
    grouping factors are nested (each group of a finer factor lies within one
    group of each coarser one), the exact nested engine is used: it profiles
    :math:`\\beta` and :math:`\\sigma^2` out of the REML/ML likelihood,
    evaluates it from per-cluster sums in O(#clusters) (never an
    :math:`n \\times n` matrix) and optimises over the relative standard
    deviations :math:`\\theta_l = \\tau_l/\\sigma`, where a zero variance is
    an ordinary interior point (see :mod:`teamculture.multilevel._engine`).
    ``(1 | trust) + (1 | team)`` with team labels unique across trusts is
    recognised as nested; with labels reused across trusts lme4 would treat
    the factors as crossed, which is almost never meant: write
    ``(1 | trust/team)``. The ``nesting`` attribute and the summary say which
    interpretation was used. Other structures (random slopes, crossed
    factors) are fitted by the guarded statsmodels MixedLM backend
    (:mod:`teamculture.multilevel._statsmodels_backend`: explicit random
    design so the top-level intercept is never dropped, several optimisers,
    the best exact likelihood kept); crossed factors raise ``ValueError``.
    Correlated slopes of teams nested in trusts, ``(1 | trust) + (1 + x |
    team)`` (or ``(1 + x | trust:team)``), which MixedLM cannot express, use
    the exact ``"nested-slopes"`` engine
    (:mod:`teamculture.multilevel._nested_slopes`: per-team and per-trust
    Woodbury identities, L-BFGS-B from several starts, best kept).
    **Inference.** Standard errors are :math:`\\sqrt{\\operatorname{diag}
    \\hat\\sigma^2 (X^\\top M^{-1} X)^{-1}}`; degrees of freedom by
    Satterthwaite's method exactly as lmerTest computes them, and
    two-sided p-values from :math:`t_{df}`.

    R: ``lmerTest::lmer(y ~ x + (1 | trust/team), data, REML = TRUE)``;
    ``summary(fit)`` for the Satterthwaite table.

    References
    ----------
    .. [1] Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting
       linear mixed-effects models using lme4. Journal of Statistical
       Software 67(1).
    .. [2] Kuznetsova, A., Brockhoff, P. B. & Christensen, R. H. B. (2017).
       lmerTest package: tests in linear mixed effects models. Journal of
       Statistical Software 82(13).

    Examples
    --------
    >>> import teamculture as tc
    >>> survey = tc.national_survey("small", seed=3)
    >>> fit = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", survey.staff)
    >>> fit.engine, fit.nobs, list(fit.variance_components.index)
    ('nested', 10000, ['trust', 'trust:team', 'residual'])
    >>> fit.variance_components.round(2).tolist()  # truth: 0.02, 0.08, 0.60
    [0.03, 0.07, 0.62]
    """
    parsed = _validate_mixed(formula, data, reml)
    variables = _model_variables(parsed, data)
    sub = data[variables]  # only the model's columns (never a copy of the whole table)
    complete = sub.notna().all(axis=1).to_numpy()
    n_drop = int((~complete).sum())
    frame = sub.loc[complete] if n_drop else sub
    notes: list[str] = []
    if n_drop:
        miss = sub.isna().sum()
        miss = miss[miss > 0]
        detail = ", ".join(f"{k}: {int(v):,}" for k, v in miss.items())
        msg = f"{n_drop:,} of {len(data):,} rows dropped because of missing values ({detail})"
        notes.append(msg)
        warnings.warn(f"mixed: {msg}.", DroppedDataWarning, stacklevel=2)
    if len(frame) == 0:
        raise ValueError("`data` has no complete rows for the model variables " + repr(variables) + ".")
    y, X = _fixed_design(parsed, frame)
    if len(y) <= X.shape[1]:
        raise ValueError(f"`data` has {len(y)} complete rows, fewer than needed for {X.shape[1]} fixed effects.")
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, pd.Index] = {}
    column_codes: dict[str, tuple[np.ndarray, pd.Index]] = {}
    for t in parsed.random:
        if t.group not in codes:
            codes[t.group], labels[t.group] = _group_codes(t, frame, column_codes)
    sizes = {g: len(labels[g]) for g in codes}
    intercepts_only = all(t.is_intercept_only for t in parsed.random)
    order = _nesting_order(parsed, codes, sizes)
    nesting = _describe_nesting(parsed, frame, order, {c: v[0] for c, v in column_codes.items()}, sizes)
    group_frame = pd.DataFrame(
        {g: pd.Categorical.from_codes(codes[g], categories=labels[g]) for g in dict.fromkeys(parsed.group_names)},
        index=frame.index,
    )
    meta = {"notes": notes, "nobs_dropped": n_drop, "nesting": nesting, "group_frame": group_frame}
    if intercepts_only and order is not None and len(order) == len(parsed.random):
        for g in order:
            if sizes[g] == len(y):
                raise ValueError(
                    f"`formula`: grouping factor {g!r} has one observation per group "
                    f"({sizes[g]:,} groups for {len(y):,} rows), so its variance cannot be "
                    "separated from the residual variance."
                )
        return _fit_nested(parsed, y, X, codes, labels, order, bool(reml), meta)
    if order is None and intercepts_only:
        warnings.warn(
            f"mixed: {nesting}. If the finer labels are local numbers reused across the coarser "
            "groups, write the nested term, e.g. (1 | trust/team).",
            TeamcultureWarning, stacklevel=2,
        )
    from teamculture.multilevel._nested_slopes import supports

    if supports(parsed.random, order):
        meta["order"] = order
    return _fit_backend(parsed, y, X, codes, labels, frame, bool(reml), meta)


def _fit_backend(parsed: ParsedFormula, y: pd.Series, X: pd.DataFrame, codes: dict[str, np.ndarray],
                 labels: dict[str, pd.Index], frame: pd.DataFrame, reml: bool,
                 meta: dict[str, Any]) -> MixedResult:
    """Random slopes: the exact nested-slopes engine (when ``meta["order"]``), else statsmodels."""
    if "order" in meta:
        from teamculture.multilevel._nested_slopes import fit_nested_slopes

        bf = fit_nested_slopes(y, X, parsed.random, codes, labels, frame, order=meta["order"], reml=reml)
    else:
        from teamculture.multilevel._statsmodels_backend import fit_statsmodels

        bf = fit_statsmodels(y, X, parsed.random, codes, labels, frame, reml=reml)

    def refit(new_reml: bool) -> MixedResult:
        return _fit_backend(parsed, y, X, codes, labels, frame, new_reml, meta)

    return MixedResult(
        formula=parsed.formula,
        fixed_effects=bf.fixed_effects,
        bse=bf.bse,
        cov_params=bf.cov_params,
        df=bf.df,
        tvalues=bf.tvalues,
        pvalues=bf.pvalues,
        variance_components=bf.variance_components,
        loglik=float(bf.loglik),
        deviance=float(bf.deviance),
        reml=reml,
        nobs=len(y),
        nobs_dropped=int(meta["nobs_dropped"]),
        ngroups=pd.Series({g: len(labels[g]) for g in dict.fromkeys(parsed.group_names)}, name="ngroups",
                          dtype=np.int64),
        n_params=int(bf.n_params),
        random_effects=bf.random_effects,
        design=X,
        response=y,
        group_labels=meta["group_frame"],
        engine="nested-slopes" if "order" in meta else "statsmodels",
        singular=bool(bf.singular),
        converged=bool(bf.converged),
        nesting=meta["nesting"],
        theta=bf.theta,
        notes=tuple(meta["notes"]) + tuple(bf.notes),
        _refit=refit,
    )
