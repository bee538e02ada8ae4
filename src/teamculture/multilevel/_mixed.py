"""The :func:`mixed` front end: formula, data, checks, engine dispatch (private; see :mod:`teamculture.multilevel`).

Nested random intercepts of any depth use an exact engine that works from
per-cluster sums (:mod:`teamculture.multilevel._suffstats`,
:mod:`teamculture.multilevel._engine`); every other structure -- random
slopes (correlated or not, nested or not) and crossed grouping factors -- uses
the exact block-elimination engine (:mod:`teamculture.multilevel._blocked`),
reported as ``"nested-slopes"`` when the grouping factors are nested and
``"crossed"`` when they are not. Before any engine runs, the front end
refuses what the data cannot identify (lme4's ``check.*`` rules and more),
translates R-isms of the formula, and applies the missing-data policy.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.groups import factorize, parent_map
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import (
    check_bool,
    check_frame,
    check_nan_policy,
    did_you_mean,
    few,
    relative_rank,
)
from teamculture._core.warn import warn
from teamculture.errors import BoundaryWarning, ConvergenceWarning, NestingWarning
from teamculture.multilevel._engine import NestedModel
from teamculture.multilevel._formula import ParsedFormula, parse_formula
from teamculture.multilevel._lmm_common import (
    RESIDUAL_FLOOR,
    BackendFit,
    check_design_names,
    term_columns,
    within_group_rss,
)
from teamculture.multilevel._results import MixedResult
from teamculture.multilevel._suffstats import nested_suffstats
from teamculture.results import coef_table

__all__ = ["mixed"]


# --------------------------------------------------------------------------- validation
def _validate_mixed(formula: Any, data: Any, reml: Any, nan_policy: Any) -> tuple[ParsedFormula, bool, str]:
    if isinstance(formula, pd.DataFrame) and isinstance(data, str):
        raise TypeError("`formula` comes first: call mixed(formula, data), e.g. "
                        "mixed('y ~ x + (1 | team)', data); got (DataFrame, str).")
    parsed = parse_formula(formula)
    check_frame(data, "data")
    reml = check_bool("reml", reml)
    nan_policy = check_nan_policy(nan_policy)
    clash = [g for g in dict.fromkeys(parsed.group_names) if g in ("residual", "Residual")]
    if clash:
        raise ValueError(
            f"`formula`: grouping factor {clash[0]!r} has the name of the residual variance ('residual' in "
            "variance_components, 'Residual' in var_corr()), so the two could not be told apart. Rename the "
            f"column (e.g. data.rename(columns={{{clash[0]!r}: 'unit'}}))."
        )
    missing = [c for c in parsed.group_columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"`formula` names grouping column(s) {few(missing)} that are not in `data`."
            f"{did_you_mean(missing[0], data.columns)} Columns of `data` ({data.shape[1]}): "
            f"{few(list(data.columns), data.shape[1])}."
        )
    return parsed, reml, nan_policy


_FORMULAIC_NAMES = frozenset({"np", "numpy", "C", "I", "log", "exp", "abs", "center", "scale", "poly", "bs",
                              "lag", "Q", "T", "S", "Treatment", "Sum", "Helmert", "Diff", "Poly", "pow",
                              "log10", "log2", "True", "False", "None", "contr", "hashed"})


def _formulaic_error(exc: Exception, what: str) -> ValueError:
    msg = str(exc).split("\n")[0]
    return ValueError(f"`formula`: could not evaluate {what}: {msg}")


def _model_variables(parsed: ParsedFormula, data: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(all model columns, the columns of the fixed part and slopes) of ``data``."""
    from formulaic import Formula

    rhs = parsed.fixed
    for t in parsed.random:
        for s in t.slopes:
            rhs += f" + {s}"
    try:
        req = Formula(f"{parsed.response} ~ {rhs}").required_variables
    except Exception as exc:  # noqa: BLE001 - formulaic raises several parser error types
        raise ValueError(f"`formula`: could not parse {parsed.response} ~ {rhs!r}: {str(exc).splitlines()[0]}") \
            from None
    names = [str(v) for v in req]
    unknown = sorted({n for n in names if n not in data.columns and "." not in n and n not in _FORMULAIC_NAMES})
    if unknown:
        raise ValueError(
            f"`formula` names variable(s) {few(unknown)} that are not columns of `data`."
            f"{did_you_mean(unknown[0], data.columns)} Columns of `data` ({data.shape[1]}): "
            f"{few(list(data.columns), data.shape[1])}."
        )
    # formulaic does not report the variables of stateful transforms (scale(x), poly(x, 2), center(x)):
    # every identifier (or `quoted name`) of the formula that names a column is a model variable
    text = f"{parsed.response} ~ {rhs}"
    tokens = {a or b for a, b in re.findall(r"`([^`]+)`|([^\W\d][\w.]*)", text)}
    wanted = set(names) | tokens
    used = [c for c in data.columns if str(c) in wanted]
    return used + [c for c in parsed.group_columns if c not in used], used


def _check_response(parsed: ParsedFormula, data: pd.DataFrame, fixed_vars: list[str]) -> None:
    cplx = [c for c in fixed_vars if pd.api.types.is_complex_dtype(data[c].dtype)]
    if cplx:
        raise TypeError(f"`data`: column(s) {few(cplx)} are complex numbers; a mixed model needs real numbers.")
    name = parsed.response
    if name in data.columns:
        s = data[name]
        if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) \
                or isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_complex_dtype(s.dtype):
            shown = few(pd.unique(s.dropna())[:3].tolist())
            raise TypeError(
                f"`formula`: the response {name!r} must be numeric; column {name!r} of `data` has dtype "
                f"{s.dtype} (values such as {shown}). Convert it first (e.g. pandas.to_numeric), or code "
                "categories as numbers."
            )


# --------------------------------------------------------------------------- design
def _design(parsed: ParsedFormula, frame: pd.DataFrame
            ) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame, ParsedFormula]:
    """Response, fixed design, the random-slope columns and the formula with the slopes named as
    formulaic names their columns."""
    from formulaic import model_matrix

    with np.errstate(all="ignore"):
        try:
            mm = model_matrix(f"{parsed.response} ~ {parsed.fixed}", frame, na_action="ignore")
        except Exception as exc:  # noqa: BLE001 - formulaic/numpy/pandas errors, translated
            raise _formulaic_error(exc, f"'{parsed.response} ~ {parsed.fixed}'") from None
        lhs = np.asarray(mm.lhs, dtype=np.float64)
        if lhs.ndim != 2 or lhs.shape[1] != 1:
            raise TypeError(
                f"`formula`: the response {parsed.response!r} must be one numeric variable; it gives "
                f"{lhs.shape[1]} columns ({few([str(c) for c in mm.lhs.columns])}): is it categorical?"
            )
        y = pd.Series(lhs[:, 0], index=frame.index, name=parsed.response)
        X = pd.DataFrame(np.asarray(mm.rhs, dtype=np.float64), index=frame.index,
                         columns=[str(c) for c in mm.rhs.columns])
        slopes: dict[str, tuple[str, np.ndarray]] = {}
        for t in parsed.random:
            for s in t.slopes:
                if s in slopes:
                    continue
                try:
                    smm = model_matrix(f"0 + {s}", frame, na_action="ignore")
                except Exception as exc:  # noqa: BLE001
                    raise _formulaic_error(exc, f"the random slope {s!r}") from None
                if smm.shape[1] != 1:
                    raise ValueError(
                        f"`formula`: the random slope {s!r} of {t.group!r} gives {smm.shape[1]} columns "
                        f"({few([str(c) for c in smm.columns])}); only numeric slopes are supported "
                        "(code a categorical slope as numeric 0/1 columns, one term each)."
                    )
                slopes[s] = (str(smm.columns[0]), np.asarray(smm, dtype=np.float64)[:, 0])
    if X.shape[1] == 0:
        raise ValueError("`formula` has no fixed effects (not even an intercept); add '1 +'.")
    check_design_names(X, frame, parsed.response)
    # slopes are named as formulaic names the column, as the design does (I(x^2) and I(x ^ 2) agree)
    terms = tuple(dataclasses.replace(t, slopes=tuple(slopes[s][0] for s in t.slopes)) for t in parsed.random)
    covs = pd.DataFrame({name: v for name, v in slopes.values()}, index=frame.index)
    return y, X, covs, dataclasses.replace(parsed, random=terms)


def _text_numbers_hint(frame: pd.DataFrame, fixed_vars: list[str]) -> str:
    """A hint naming predictors that hold numbers as text (read as categorical, as R reads character columns)."""
    cols = []
    for c in fixed_vars:
        s = frame[c]
        if pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            v = s.dropna()
            if len(v) and pd.to_numeric(v.astype(str), errors="coerce").notna().all():
                cols.append(c)
    if not cols:
        return ""
    return (f" Column(s) {few(cols)} hold numbers stored as text (dtype {frame[cols[0]].dtype}), which a formula "
            "reads as a categorical with one level per distinct value; convert them with pandas.to_numeric first "
            "(or write C(...) if a categorical is meant).")


def _check_design(parsed: ParsedFormula, frame: pd.DataFrame, fixed_vars: list[str], X: pd.DataFrame,
                  y: pd.Series) -> None:
    Xa = X.to_numpy()
    names = [parsed.response, *X.columns]
    # magnitudes whose squares overflow or underflow (one pass for the largest values; the
    # smallest nonzero value is looked at only for a column whose largest value is tiny)
    big = np.r_[np.max(np.abs(y.to_numpy())), np.max(np.abs(Xa), axis=0)]
    for j, name in enumerate(names):
        v = y.to_numpy() if j == 0 else Xa[:, j - 1]
        if big[j] > 1e100 or 0 < big[j] < 1e-90:
            a = np.abs(v[v != 0])
            if a.size and (a.max() > 1e100 or a.min() < 1e-100):
                raise ValueError(
                    f"`data`: {name!r} has values of magnitude {a.max() if a.max() > 1e100 else a.min():.3g}; the "
                    "likelihood's sums of squares would overflow or underflow. Rescale it (e.g. to thousands of "
                    "pounds), which changes the estimates by the same factor only."
                )
    for c in fixed_vars:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype) and c != parsed.response:
            used = pd.unique(s.cat.codes.to_numpy())
            empty = [lab for i, lab in enumerate(s.cat.categories) if i not in set(used.tolist())]
            if empty:
                raise ValueError(
                    f"`data`: categorical column {c!r} has {len(empty)} level(s) with no rows among the "
                    f"{len(frame):,} rows used: {few(empty)}; their coefficients cannot be estimated. Drop the "
                    f"unused levels first (data[{c!r}] = data[{c!r}].cat.remove_unused_categories(), after "
                    "removing rows with missing values)."
                )
    n, p = X.shape
    if n <= p:
        raise ValueError(f"`data` has {n} usable row(s), fewer than needed for {p} fixed effect(s) "
                         f"({few(list(X.columns))}) and a residual variance.{_text_numbers_hint(frame, fixed_vars)}")
    # scale-free rank: a well-conditioned design shows in the Gram matrix of the unit-length
    # columns (smallest eigenvalue far above rounding); otherwise the QR of core relative_rank decides
    norms = np.sqrt(np.einsum("ij,ij->j", Xa, Xa))
    rank, dependent = p, np.zeros(0, dtype=np.intp)
    if not (norms > 0).all() or np.linalg.eigvalsh((Xa.T @ Xa) / np.outer(norms, norms))[0] <= 1e-6:
        rank, dependent = relative_rank(Xa)
    if rank < p:
        names = [X.columns[j] for j in dependent]
        zero = [X.columns[j] for j in dependent if not np.any(X.iloc[:, j].to_numpy())]
        extra = f" ({few(zero)} are zero in every row used)" if zero else ""
        raise ValueError(
            f"`formula`: the fixed-effects design is rank deficient (rank {rank} < {p} columns, judged "
            f"scale-free); column(s) {few(names)} are linear combinations of the columns before them{extra}. "
            f"Remove them from the formula.{_text_numbers_hint(frame, fixed_vars)}"
        )


def _check_finite(parsed: ParsedFormula, y: pd.Series, X: pd.DataFrame, covs: pd.DataFrame,
                  nan_policy: str) -> tuple[np.ndarray | None, int]:
    """Rows made missing by a transformation (``log`` of a negative number) go through ``nan_policy``;
    infinite values (``log(0)``, inf in the data) are refused."""
    parts = [("the response " + repr(parsed.response), y.to_numpy()[:, None], [parsed.response]),
             ("the fixed effects", X.to_numpy(), list(X.columns)),
             ("the random slopes", covs.to_numpy(), list(covs.columns))]
    nan_rows = np.zeros(len(y), dtype=bool)
    for what, arr, names in parts:
        if arr.size == 0 or np.isfinite(arr.sum()):
            continue
        inf = np.isinf(arr)
        if inf.any():
            cols = [names[j] for j in np.flatnonzero(inf.any(axis=0))]
            rows = y.index[inf.any(axis=1)]
            raise ValueError(
                f"`formula`: {what} ({few(cols)}) are infinite in {int(inf.any(axis=1).sum())} row(s) "
                f"{few(rows.tolist())} (inf in `data`, or e.g. log(0)); drop or recode them."
            )
        nan_rows |= np.isnan(arr).any(axis=1)
    if not nan_rows.any():
        return None, 0
    return apply_nan_policy(nan_rows, nan_policy, name="formula",
                            what="the mixed model (values made missing by a transformation in the formula, "
                                 "e.g. log of a negative number)", labels=np.asarray(y.index))


# --------------------------------------------------------------------------- grouping
@dataclass(frozen=True)
class _Grouping:
    codes: dict[str, np.ndarray]
    labels: dict[str, pd.Index]
    column_codes: dict[str, np.ndarray]
    sizes: dict[str, int]
    order: list[str] | None


def _grouping(parsed: ParsedFormula, frame: pd.DataFrame) -> _Grouping:
    """Integer codes (core :func:`factorize`) and lme4-style labels of every grouping factor."""
    col: dict[str, tuple[np.ndarray, pd.Index]] = {}
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, pd.Index] = {}
    for t in parsed.random:
        if t.group in codes:
            continue
        for f in t.factors:
            if f not in col:
                col[f] = factorize(frame[f], name=f"data[{f!r}]")
        if len(t.factors) == 1:
            c, lab = col[t.factors[0]]
            codes[t.group], labels[t.group] = c, pd.Index(lab, name=t.group)
            continue
        # a:b: one group per observed combination, in sorted order
        key = np.zeros(len(frame), dtype=np.int64)
        for f in t.factors:
            key = key * len(col[f][1]) + col[f][0]
        raw, uniq = pd.factorize(key, sort=True)
        codes[t.group] = raw.astype(np.intp, copy=False)
        rest = np.asarray(uniq, dtype=np.int64)
        pieces = []
        for f in reversed(t.factors):
            n_f = len(col[f][1])
            pieces.append(np.asarray(col[f][1].astype(str), dtype=object)[rest % n_f])
            rest = rest // n_f
        text = pieces[-1]
        for piece in reversed(pieces[:-1]):
            text = text + ":" + piece
        labels[t.group] = pd.Index(text, name=t.group, dtype=object)
    sizes = {g: len(labels[g]) for g in codes}
    return _Grouping(codes, labels, {f: c for f, (c, _) in col.items()}, sizes, _chain(codes, sizes))


def _chain(codes: dict[str, np.ndarray], sizes: dict[str, int]) -> list[str] | None:
    """Grouping names ordered coarse to fine if each lies within the next coarser one, else ``None``."""
    order = sorted(codes, key=lambda g: (sizes[g], len(g)))
    for a, b in zip(order[:-1], order[1:]):
        if parent_map(codes[b], codes[a], sizes[b]) is None:
            return None
    return order


def _describe_nesting(parsed: ParsedFormula, frame: pd.DataFrame, grp: _Grouping) -> str:
    notes = []
    terms = {t.group: t for t in parsed.random}
    for g, t in terms.items():
        if len(t.factors) < 2:
            continue
        inner, outer = t.factors[-1], t.factors[:-1]
        n_inner = int(grp.column_codes[inner].max()) + 1
        n_combo = grp.sizes[g]
        if n_combo > n_inner:
            notes.append(
                f"'{inner}' labels are reused across '{':'.join(outer)}' ({n_inner:,} distinct labels, "
                f"{n_combo:,} {':'.join(outer)}:{inner} combinations), so the nested term "
                f"(1 | {g}) is required and is used"
            )
        else:
            notes.append(
                f"'{inner}' labels are unique across '{':'.join(outer)}'; (1 | {g}) has one group per {inner}"
            )
    single = [g for g in terms if len(terms[g].factors) == 1]
    if grp.order is not None and len(single) > 1:
        chain = [g for g in grp.order if g in single]
        pairs = ", ".join(f"'{b}' labels are unique across '{a}'" for a, b in zip(chain[:-1], chain[1:]))
        same = ""
        if all(terms[g].is_intercept_only for g in chain):
            same = " + ".join(f"(1 | {g})" for g in chain) + f" is the same model as (1 | {'/'.join(chain)})"
        notes.append(f"{pairs} (each lies in one group of the coarser factor): the factors are nested"
                     + (f"; {same}" if same else ""))
    if grp.order is None:
        for i, a in enumerate(single):
            for b in single[i + 1:]:
                for outer, inner in ((a, b), (b, a)):
                    if parent_map(grp.codes[inner], grp.codes[outer], grp.sizes[inner]) is not None:
                        notes.append(f"'{inner}' lies within '{outer}' (nested)")
                        break
        crossed = [f"{n_multi:,} '{b}' labels occur in more than one '{a}'"
                   for a, b, n_multi in _crossed_pairs(parsed, grp)]
        detail = f" ({'; '.join(crossed)})" if crossed else ""
        notes.append(f"the grouping factors are not nested{detail}: they are fitted as crossed random effects, "
                     "as lme4 fits them")
    return "; ".join(notes)


def _crossed_pairs(parsed: ParsedFormula, grp: _Grouping) -> list[tuple[str, str, int]]:
    """``(a, b, count)`` for grouping factors ``a`` and ``b`` (formula order) that are crossed (neither nested in
    the other): ``count`` levels of ``b`` occur in more than one level of ``a``."""
    names = list(dict.fromkeys(parsed.group_names))
    out = []
    for i, a_ in enumerate(names):
        for b_ in names[i + 1:]:
            ca, cb = grp.codes[a_], grp.codes[b_]
            if parent_map(cb, ca, grp.sizes[b_]) is not None or parent_map(ca, cb, grp.sizes[a_]) is not None:
                continue
            pairs = np.unique(cb.astype(np.int64) * grp.sizes[a_] + ca)
            n_multi = int(np.count_nonzero(np.bincount(pairs // grp.sizes[a_], minlength=grp.sizes[b_]) > 1))
            out.append((a_, b_, n_multi))
    return out


def _warn_crossed(parsed: ParsedFormula, grp: _Grouping) -> None:
    """lme4 reads ``(1 | trust) + (1 | team)`` with team labels reused across trusts as crossed factors; so do
    we, and say so once (pairs whose interaction ``a:b`` is also in the formula are left out: crossing is
    evidently meant)."""
    groups = set(parsed.group_names)
    pairs = []
    for a, b, n_multi in _crossed_pairs(parsed, grp):
        ta = next(t for t in parsed.random if t.group == a)
        tb = next(t for t in parsed.random if t.group == b)
        if len(ta.factors) != 1 or len(tb.factors) != 1 or f"{a}:{b}" in groups or f"{b}:{a}" in groups:
            continue
        pairs.append((a, b, n_multi))
    if not pairs:
        return
    what = "; ".join(f"{n:,} of the {grp.sizes[b]:,} '{b}' labels occur in more than one '{a}'" for a, b, n in pairs)
    a, b, _ = pairs[0]
    warn(f"mixed: {what}, so these grouping factors are fitted as crossed random effects, as lme4 fits them. If the "
         f"'{b}' labels are local numbers reused within each '{a}' (one label for different groups in different "
         f"'{a}' groups, as team 1 in every trust), the model meant is nested: write (1 | {a}/{b}). If the factors are "
         "crossed by design, this warning can be silenced with "
         "warnings.filterwarnings('ignore', category=teamculture.errors.NestingWarning).", NestingWarning)


# --------------------------------------------------------------------------- identifiability
def _check_identifiable(parsed: ParsedFormula, y: pd.Series, X: pd.DataFrame, covs: pd.DataFrame,
                        grp: _Grouping) -> None:
    """Refuse what the data cannot identify (lme4's check.nlev.gtr.1, check.nobs.vs.nlev,
    check.nobs.vs.nRE, plus duplicated and confounded factors and dependent random columns)."""
    n, p = X.shape
    for g in dict.fromkeys(parsed.group_names):
        G = grp.sizes[g]
        if G < 2:
            only = few(list(grp.labels[g][:1]))
            raise ValueError(
                f"`formula`: grouping factor {g!r} has {G} level {only} in the {n:,} rows used; a variance "
                "needs at least 2 groups (lme4: grouping factors must have > 1 sampled level). Drop the "
                "random term, or check the data."
            )
        if G >= n:
            raise ValueError(
                f"`formula`: grouping factor {g!r} has one observation per group ({G:,} groups for {n:,} "
                "rows), so its variance cannot be separated from the residual variance (lme4: the number "
                "of levels of each grouping factor must be < the number of observations)."
            )
    q_by_group: dict[str, int] = {}
    for t in parsed.random:
        q_by_group[t.group] = q_by_group.get(t.group, 0) + len(term_columns(t))
        cols = term_columns(t)
        if len(cols) > 1:
            Z = np.column_stack([np.ones(n) if c == "Intercept" else (X[c].to_numpy() if c in X.columns
                                                                       else covs[c].to_numpy()) for c in cols])
            rank, dep = relative_rank(Z)
            if rank < len(cols):
                bad = [cols[j] for j in dep]
                raise ValueError(
                    f"`formula`: the random-effects columns of {t} are linearly dependent ({few(bad)} "
                    "constant, or a combination of the others, over the rows used), so their variances "
                    "cannot be identified. Remove the slope."
                )
        elif t.slopes:
            v = covs[cols[0]].to_numpy() if cols[0] in covs.columns else X[cols[0]].to_numpy()
            if not np.any(v):
                raise ValueError(f"`formula`: the random slope {cols[0]!r} of {t.group!r} is zero in every "
                                 "row used; its variance cannot be identified.")
    # uncorrelated terms of one factor, e.g. (1 | team) + (0 + k | team) with k constant: the same check
    for g in dict.fromkeys(parsed.group_names):
        terms = [t for t in parsed.random if t.group == g]
        cols = [c for t in terms for c in term_columns(t)]
        if len(terms) > 1 and len(cols) > 1:
            Z = np.column_stack([np.ones(n) if c == "Intercept" else (X[c].to_numpy() if c in X.columns
                                                                       else covs[c].to_numpy()) for c in cols])
            rank, dep = relative_rank(Z)
            if rank < len(cols):
                bad = [cols[j] for j in dep]
                raise ValueError(
                    f"`formula`: the random-effects columns of {' + '.join(map(str, terms))} are linearly "
                    f"dependent ({few(bad)} constant, or a combination of the others, over the rows used), so "
                    "their variances cannot be identified. Remove the slope."
                )
    for g, q in q_by_group.items():
        if q > 1 and n <= q * grp.sizes[g]:
            raise ValueError(
                f"`formula`: {n:,} rows are not more than the {q * grp.sizes[g]:,} random effects of {g!r} "
                f"({q} per group x {grp.sizes[g]:,} groups); the random-effects variances and the residual "
                "variance cannot be identified (lme4: check.nobs.vs.nRE)."
            )
    names = list(dict.fromkeys(parsed.group_names))
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if grp.sizes[a] == grp.sizes[b] and parent_map(grp.codes[a], grp.codes[b], grp.sizes[a]) is not None:
                raise ValueError(
                    f"`formula`: the grouping factors {a!r} and {b!r} group the rows identically (each "
                    f"{a!r} group is one {b!r} group), so their variances cannot be separated. Keep one of "
                    "them."
                )
    rank_x = p  # the design has full rank (checked before)
    for g in names:
        G = grp.sizes[g]
        if G <= p:  # only then can the fixed effects absorb every group indicator
            Z = np.zeros((n, G))
            Z[np.arange(n), grp.codes[g]] = 1.0
            rank_xz, _ = relative_rank(np.column_stack([X.to_numpy(), Z]))
            if rank_xz == rank_x:
                raise ValueError(
                    f"`formula`: the random intercept of {g!r} is confounded with the fixed effects (they "
                    f"already separate the {G} {g!r} groups, e.g. C({g}) as a fixed effect), so its variance "
                    "cannot be identified. Remove one of the two."
                )


def _residual_message(parsed: ParsedFormula, group: str, rss: float, tss: float) -> str:
    if not tss > 0:
        return f"`formula`: the response {parsed.response!r} is constant over the rows used; there is nothing to model."
    return (
        f"`formula`: the response {parsed.response!r} does not vary within {group!r} groups beyond what the "
        f"fixed effects explain (residual share {max(rss, 0.0) / tss:.3g} of its total sum of squares, below "
        f"{RESIDUAL_FLOOR:g}): the residual variance is zero and the likelihood has no maximum (lme4 stops "
        f"with convergence warnings far from the answer). Is it a {group!r}-level variable? Model it with "
        f"one row per {group!r} group."
    )


# --------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class _RefitState:
    """What :meth:`MixedResult.refit` needs besides the result's own fields (picklable, no closures)."""

    parsed: ParsedFormula
    engine: str
    order: tuple[str, ...] | None
    model: Any  # NestedModel ("nested") or BlockedModel (the other engines)
    codes: dict[str, np.ndarray]
    labels: dict[str, pd.Index]
    covariates: pd.DataFrame
    notes: tuple[str, ...]

    def refit(self, result: MixedResult, reml: bool) -> MixedResult:
        """The same model and rows fitted by the other method (:meth:`MixedResult.refit`)."""
        return _refit(result, reml)


def _finish(result: MixedResult) -> MixedResult:
    """Warnings that go with the result (never silent)."""
    if not result.converged:
        warn(f"mixed: the optimiser did not converge for {result.formula!r} ({result.engine} engine); the "
             "estimates may not be the optimum (converged=False, and the summary says so).", ConvergenceWarning)
    if result.singular:
        zero = [n for n in result.notes if n.startswith("singular fit")]
        warn(f"mixed: boundary (singular) fit for {result.formula!r}: "
             + (zero[0] if zero else "a random-effects variance is estimated at zero")
             + " (singular=True; lme4 says 'boundary (singular) fit').", BoundaryWarning)
    return result


def _fit_nested(state: _RefitState, y: pd.Series, X: pd.DataFrame, reml: bool, common: dict[str, Any]
                ) -> MixedResult:
    from teamculture.multilevel._satterthwaite import satterthwaite_from_derivatives

    parsed, order, model = state.parsed, list(state.order or ()), state.model
    st = model.stats
    fit = model.fit(reml=reml)
    names = list(X.columns)
    p = len(names)
    varpar = np.r_[fit.theta, np.sqrt(fit.sigma2)]
    H, _, J = model.varpar_derivatives(varpar, reml)
    df, _ = satterthwaite_from_derivatives(H, fit.cov_beta, J, sigma=float(varpar[-1]))
    se = np.sqrt(np.diag(fit.cov_beta))
    vc = pd.Series(np.r_[fit.variances, fit.sigma2], index=[*order, "residual"], name="variance", dtype=float)
    vc = vc.reindex([*parsed.group_names, "residual"])
    theta = pd.Series(fit.theta, index=order, name="theta").reindex(list(parsed.group_names))
    ranef = {}
    for lev, (blup, cvar) in enumerate(model.conditional_modes(fit)):
        g = order[lev]
        ranef[g] = pd.DataFrame({"blup": blup, "cond_var": cvar}, index=state.labels[g][st.orders[lev]])
    ranef = {g: ranef[g] for g in parsed.group_names}
    singular = bool(np.any(fit.theta < 1e-4))
    notes = list(state.notes)
    if singular:
        zero = [order[k] for k in range(len(order)) if fit.theta[k] < 1e-4]
        notes.append(
            f"singular fit: the variance of {', '.join(repr(z) for z in zero)} is estimated at "
            "(or within 1e-4 relative SD of) zero"
        )
    if not fit.converged:
        notes.append("the optimiser did not confirm convergence (Newton and a simplex search stalled)")
    return MixedResult(
        formula=parsed.formula,
        coefficients=coef_table(fit.beta, se, index=pd.Index(names), df=df),
        fixed_effects=pd.Series(fit.beta, index=names, name="fixed_effects", dtype=float),
        cov_params=pd.DataFrame(fit.cov_beta, index=names, columns=names),
        variance_components=vc,
        loglik=-0.5 * fit.criterion,
        deviance=fit.criterion,
        reml=reml,
        n_params=p + len(order) + 1,
        random_effects=ranef,
        engine="nested",
        singular=singular,
        converged=fit.converged,
        theta=theta,
        notes=tuple(notes),
        _refit_state=state,
        _nested_order=tuple(order),
        **common,
    )


def _fit_backend(state: _RefitState, y: pd.Series, X: pd.DataFrame, reml: bool, common: dict[str, Any]
                 ) -> MixedResult:
    """Random slopes and crossed factors: the exact block-elimination engine."""
    from teamculture.multilevel._blocked import fit_blocked

    bf: BackendFit
    bf, _ = fit_blocked(y, X, state.parsed.random, state.codes, state.labels, state.covariates, reml=reml,
                        engine=state.engine, model=state.model)
    return MixedResult(
        formula=state.parsed.formula,
        coefficients=bf.coefficients,
        fixed_effects=bf.fixed_effects,
        cov_params=bf.cov_params,
        variance_components=bf.variance_components,
        loglik=float(bf.loglik),
        deviance=float(bf.deviance),
        reml=reml,
        n_params=int(bf.n_params),
        random_effects=bf.random_effects,
        engine=state.engine,
        singular=bool(bf.singular),
        converged=bool(bf.converged),
        theta=bf.theta,
        notes=tuple(state.notes) + tuple(bf.notes),
        _refit_state=state,
        **common,
    )


def _fit(state: _RefitState, y: pd.Series, X: pd.DataFrame, reml: bool, common: dict[str, Any]) -> MixedResult:
    from scipy import linalg

    fitter = _fit_nested if state.engine == "nested" else _fit_backend
    try:
        with np.errstate(all="ignore"):
            result = fitter(state, y, X, reml, common)
    except (np.linalg.LinAlgError, linalg.LinAlgError, FloatingPointError, OverflowError) as exc:
        # the checks before fitting should leave none of these; if one happens, say what failed
        raise ValueError(
            f"`formula`: the {state.engine} engine could not evaluate the likelihood of {state.parsed.formula!r} "
            f"({type(exc).__name__}: {exc}); the model is probably not identified by these data (nearly "
            "collinear predictors or random effects, or variances the data cannot separate)."
        ) from None
    if not (np.isfinite(result.deviance) and np.all(np.isfinite(result.fixed_effects.to_numpy()))):
        raise ValueError(f"`formula`: the fit of {state.parsed.formula!r} gave non-finite estimates; the model is "
                         "probably not identified by these data.")
    return _finish(result)


def _refit(result: MixedResult, reml: bool) -> MixedResult:
    """The same model and rows fitted by the other method (:meth:`MixedResult.refit`)."""
    common = {"design": result.design, "response": result.response, "group_labels": result.group_labels,
              "nesting": result.nesting, "n_obs": result.n_obs, "n_dropped": result.n_dropped,
              "n_groups": result.n_groups}
    return _fit(result._refit_state, result.response, result.design, reml, common)


def mixed(formula: str, data: pd.DataFrame, *, reml: bool = True, nan_policy: str = "omit") -> MixedResult:
    """Fit a linear mixed model written with lme4's formula syntax.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (1 | trust/team)"``. The fixed part uses formulaic
        with R's meaning kept: ``C(x)`` or ``factor(x)``, ``a:b``, ``a*b``,
        ``log(x)``, ``I(x^2)`` (a square, as in R), ``poly(x, 2)``
        (orthogonal, as R's), ``scale(x)``; an intercept unless ``0 +`` /
        ``- 1``. Random terms: ``(1 | g)``; nested ``(1 | a/b)`` =
        ``(1 | a) + (1 | a:b)``, any depth; ``(1 | a:b)``; random slopes
        ``(1 + x | g)``; uncorrelated ``(1 + x || g)`` = ``(1 | g) +
        (0 + x | g)``; crossed factors ``(1 | team) + (1 | occupation)``
        (as in lme4). ``.`` and ``offset()`` are refused.
    data : pandas.DataFrame
        One row per observation, unique column names (any Unicode names;
        put names that are not identifiers in backticks).
    reml : bool, default True
        Restricted maximum likelihood (lme4's default); ``False`` for ML.
    nan_policy : {"omit", "raise"}, default "omit"
        Rows with a missing value in any model variable (response,
        predictors, grouping columns): ``"omit"`` drops them, counts them in
        ``n_dropped`` and says so in a
        :class:`~teamculture.errors.DroppedDataWarning` (as R's
        ``na.omit``); ``"raise"`` refuses them.

    Returns
    -------
    MixedResult
        Coefficient table with Satterthwaite tests, variance components,
        BLUPs; see :class:`~teamculture.multilevel.MixedResult`.

    Raises
    ------
    ValueError
        For what the data cannot identify, as lme4's checks and more: a
        grouping factor with one level or one observation per level, two
        factors that group the rows identically, a random intercept
        confounded with the fixed effects, dependent random-effects columns
        (a slope on a constant), fewer rows than parameters, a response that
        does not vary within the finest groups (a group-level variable: the
        residual variance is zero), a rank-deficient fixed design (judged
        scale-free), an empty categorical level, crossed factors that both
        have thousands of levels (the engine's dense step would be too
        large).

    Warns
    -----
    ConvergenceWarning
        The optimiser did not converge (``converged=False``).
    BoundaryWarning
        A variance is estimated at zero (``singular=True``).
    NestingWarning
        Grouping factors written as separate terms are crossed (labels of one
        occur in several groups of the other): fitted as crossed random
        effects, as lme4 fits them; if the labels are local numbers (team 1
        in every trust) the nested form ``(1 | trust/team)`` is meant.
    DroppedDataWarning
        Rows with missing values were dropped (``nan_policy="omit"``).

    Notes
    -----
    The model is :math:`y = X\\beta + \\sum_l Z_l b_l + e` with
    :math:`b_l \\sim N(0, \\Sigma_l)` and :math:`e \\sim N(0, \\sigma^2 I)`,
    fitted by maximising lme4's profiled REML criterion (or ML deviance)
    over the relative covariance parameters :math:`\\theta`.

    Engines (``fit.engine``): nested random intercepts use an exact engine
    that evaluates the likelihood from per-cluster sums in O(#clusters)
    (:class:`~teamculture.multilevel.NestedModel`); every other structure --
    random slopes, correlated or uncorrelated (``||``), of one factor or of
    nested factors (``"nested-slopes"``), and crossed factors
    (``"crossed"``) -- an exact block-elimination engine: the largest
    grouping factor's random effects are eliminated group by group, the
    rest by blocks, with exact first and second derivatives of the
    likelihood (Newton steps; Satterthwaite df). ``(1 | trust) +
    (1 | team)`` with team labels unique across trusts is the nested model;
    with labels reused across trusts the factors are crossed, as in lme4,
    with a :class:`~teamculture.errors.NestingWarning` (write
    ``(1 | trust/team)`` for the nested model). ``fit.nesting`` says how the
    factors were read.

    Inference: standard errors from :math:`\\hat\\sigma^2 (X^\\top M^{-1}
    X)^{-1}`; Satterthwaite degrees of freedom as lmerTest defines them, from
    the exact Hessian of the deviance in ``(theta, sigma)`` and the exact
    derivatives of :math:`\\operatorname{Cov}(\\hat\\beta)` (lmerTest
    approximates both numerically); two-sided p-values and intervals from
    :math:`t_{df}`.

    Differences from R: stateful transforms (``scale``, ``center``) use the
    rows of the fit, while R's ``scale()`` inside a formula also uses rows
    dropped later for missing values in other variables; ``C()``/``factor()``
    order text levels by Python's sort (R's may follow the locale).

    R: ``lmerTest::lmer(y ~ x + (1 | trust/team), data, REML = TRUE)``

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
    >>> survey = tc.national_survey("small", rng=3)
    >>> fit = tc.mixed("latent_engagement ~ tenure + (1 | trust/team)", survey.staff)
    >>> fit.engine, fit.n_obs, list(fit.variance_components.index)
    ('nested', 10000, ['trust', 'trust:team', 'residual'])
    >>> fit.variance_components.round(2).tolist()  # truth: 0.02, 0.08, 0.60
    [0.03, 0.07, 0.62]
    >>> list(fit.to_frame().columns)
    ['estimate', 'std_error', 'statistic', 'df', 'pvalue', 'ci_low', 'ci_high']
    """
    parsed, reml, nan_policy = _validate_mixed(formula, data, reml, nan_policy)
    variables, fixed_vars = _model_variables(parsed, data)
    if "Intercept" in fixed_vars:
        raise ValueError(
            "`formula` uses a column of `data` named 'Intercept': formulaic would put it in place of the intercept "
            "(also named 'Intercept'), so the two could not be told apart. Rename the column of `data`."
        )
    _check_response(parsed, data, fixed_vars)
    sub = data[variables]  # only the model's columns (never a copy of the whole table)
    na = sub.isna()
    missing = na.any(axis=1).to_numpy()
    notes: list[str] = []
    n_drop = 0
    if missing.any():
        miss = na.sum()
        detail = ", ".join(f"{k}: {int(v):,}" for k, v in miss[miss > 0].items())
        keep, n_drop = apply_nan_policy(missing, nan_policy, name="data",
                                        what=f"the mixed model (missing values per column: {detail})",
                                        labels=np.asarray(data.index))
        notes.append(f"{n_drop:,} of {len(data):,} rows dropped because of missing values ({detail})")
        frame = sub.loc[keep]
    else:
        frame = sub
    if len(frame) == 0:
        raise ValueError(f"`data` has no complete rows for the model variables {few(variables)}.")
    # pandas 'string' columns (pd.NA-backed) as plain text, which formulaic reads as categorical (a new frame)
    text = [c for c in fixed_vars if isinstance(frame[c].dtype, pd.StringDtype) and frame[c].dtype.na_value is pd.NA]
    if text:
        frame = frame.astype({c: object for c in text})
    y, X, covs, parsed = _design(parsed, frame)
    keep2, n_drop2 = _check_finite(parsed, y, X, covs, nan_policy)
    if keep2 is not None:
        frame, y, X, covs = frame.loc[keep2], y.loc[keep2], X.loc[keep2], covs.loc[keep2]
        n_drop += n_drop2
        notes.append(f"{n_drop2:,} rows dropped because a transformation in the formula made a value missing")
        if len(y) == 0:
            raise ValueError(f"`formula`: a transformation in {parsed.formula!r} made a value missing in every one of "
                             f"the {n_drop2:,} rows (e.g. log of a negative number): no rows left to fit.")
    _check_design(parsed, frame, fixed_vars, X, y)
    grp = _grouping(parsed, frame)
    _check_identifiable(parsed, y, X, covs, grp)
    nesting = _describe_nesting(parsed, frame, grp)
    groups_used = list(dict.fromkeys(parsed.group_names))
    group_frame = pd.DataFrame(
        {g: pd.Categorical.from_codes(grp.codes[g], categories=grp.labels[g]) for g in groups_used},
        index=frame.index,
    )
    common = {"design": X, "response": y, "group_labels": group_frame, "nesting": nesting,
              "n_obs": len(y), "n_dropped": n_drop,
              "n_groups": pd.Series({g: grp.sizes[g] for g in groups_used}, name="n_groups", dtype=np.int64)}
    intercepts_only = all(t.is_intercept_only for t in parsed.random)
    order = grp.order
    if intercepts_only and order is not None:
        model = NestedModel(nested_suffstats(X.to_numpy(), y.to_numpy(), [grp.codes[g] for g in order]))
        rss, tss = model.residual_share()
        if not rss > RESIDUAL_FLOOR * tss:
            raise ValueError(_residual_message(parsed, order[-1], rss, tss))
        state = _RefitState(parsed, "nested", tuple(order), model, {}, grp.labels, covs.iloc[:, :0], tuple(notes))
        return _fit(state, y, X, reml, common)
    with_icpt = [t.group for t in parsed.random if t.intercept]
    if with_icpt:
        g = max(with_icpt, key=lambda h: grp.sizes[h])
        rss, tss = within_group_rss(X.to_numpy(), y.to_numpy(), grp.codes[g], grp.sizes[g])
        if not rss > RESIDUAL_FLOOR * tss:
            raise ValueError(_residual_message(parsed, g, rss, tss))
    if order is None:
        _warn_crossed(parsed, grp)
    from teamculture.multilevel._blocked import BlockedModel, factors_from_terms
    from teamculture.multilevel._lmm_common import covariate

    factors = factors_from_terms(parsed.random, grp.codes, grp.sizes)
    zcols = {c: covariate(c, X, covs) for f in factors for c in f.columns if c != "Intercept"}
    blocked = BlockedModel(X.to_numpy(dtype=float), y.to_numpy(dtype=float), factors, zcols, unit_covariates=True)
    engine = "nested-slopes" if order is not None else "crossed"
    state = _RefitState(parsed, engine, tuple(order) if order else None, blocked, grp.codes, grp.labels, covs,
                        tuple(notes))
    return _fit(state, y, X, reml, common)
