"""From an lme4-style GLMM formula and a DataFrame to the engine's arrays (private).

Parses the response (a 0/1 or count column, ``cbind(successes, failures)``,
arithmetic on columns), ``offset(...)`` terms, the fixed-effects design
(formulaic) and the nested grouping factors, applies the missing-data policy
and validates everything against the family, so that
:mod:`teamculture.multilevel._glmm_engine` only ever sees clean arrays.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from teamculture._core.errors import DegenerateDataWarning, NotNestedError
from teamculture._core.groups import align, factorize, parent_map
from teamculture._core.missing import apply_nan_policy
from teamculture._core.validation import did_you_mean, few, relative_rank
from teamculture._core.warn import warn
from teamculture.multilevel._formula import ParsedFormula
from teamculture.multilevel._lmm_common import check_design_names

__all__ = ["GLMMData", "prepare"]

_FUNCS = {
    "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log1p": np.log1p, "expm1": np.expm1, "abs": np.abs,
    "log2": np.log2, "log10": np.log10,
}
_KNOWN_FUNCTIONS = frozenset({"log", "exp", "sqrt", "abs", "center", "scale", "poly", "bs", "lag", "Q", "T", "S",
                              "Treatment", "Sum", "Helmert", "Diff", "Poly", "C", "I", "np", "numpy",
                              "contr", "log1p", "expm1", "log2", "log10"})


@dataclass
class GLMMData:
    """Clean arrays for the engine plus what the result needs to label and re-use them."""

    X: pd.DataFrame  # fixed-effects design of the rows used (index = data's index)
    k: np.ndarray  # successes / counts
    m: np.ndarray  # trials / prior weights
    offset: np.ndarray | None
    codes: list[np.ndarray]  # per level, outer first
    level_names: list[str]  # grouping-factor names (lme4 style), outer first
    labels: dict[str, pd.Index]  # group labels per grouping factor, in code order
    n_dropped: int
    frame: pd.DataFrame  # the model variables of the rows used (for predictions)
    model_spec: Any  # formulaic model spec of the fixed part
    response_kind: str  # "binary", "proportion", "cbind", "count"
    nesting: str
    notes: list[str] = field(default_factory=list)
    Z: np.ndarray | None = None  # random-effects design of a random-slopes term (n, r)
    z_names: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- expressions
def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _names_in(expr: str) -> set[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
    return out - set(_FUNCS) - {"np", "numpy"}


def _eval_expr(expr: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate arithmetic on columns (``size - incidence``, ``log(exposure)``) as R would."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"`formula`: could not read the {what} {expr!r}.") from None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Name):
            if node.id not in frame.columns:
                raise ValueError(f"`formula`: the {what} {expr!r} names {node.id!r}, which is not a column of `data`."
                                 f"{did_you_mean(node.id, frame.columns)}")
            col = frame[node.id]
            return _numeric_column(col, node.id, what)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value,
                                                                                                        bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            a, b = ev(node.left), ev(node.right)
            with np.errstate(all="ignore"):
                if isinstance(node.op, ast.Add):
                    return a + b
                if isinstance(node.op, ast.Sub):
                    return a - b
                if isinstance(node.op, ast.Mult):
                    return a * b
                if isinstance(node.op, ast.Div):
                    return a / b
                return a ** b
        if isinstance(node, ast.Call) and not node.keywords and len(node.args) == 1:
            f = node.func
            name = f.id if isinstance(f, ast.Name) else (
                f.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                and f.value.id in ("np", "numpy") else None)
            if name in _FUNCS:
                with np.errstate(all="ignore"):
                    return _FUNCS[name](ev(node.args[0]))
        raise ValueError(
            f"`formula`: the {what} {expr!r} uses syntax that is not supported here; allowed: column names, "
            "numbers, + - * / ** and log/exp/sqrt/log1p (compute other transformations as a column first)."
        )

    out = ev(tree)
    if np.ndim(out) == 0:
        out = np.full(len(frame), float(out))
    return np.asarray(out, dtype=float)


def _numeric_column(col: pd.Series, name: str, what: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_complex_dtype(col.dtype):
        vals = pd.unique(col.dropna())[:5].tolist()
        raise TypeError(
            f"`data` column {name!r} ({what}) must be numeric; it has dtype {col.dtype} with values such as "
            f"{few(vals)}. Code the outcome as 0/1 (e.g. (data[{name!r}] == 'yes').astype(int)) or as counts."
        )
    return col.to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------- the response
def _parse_response(lhs: str, family: str) -> tuple[str, list[str]]:
    """``("cbind", [succ, fail])`` or ``("expr", [expr])``."""
    s = lhs.strip()
    if s.startswith("cbind(") and s.endswith(")"):
        if family != "binomial":
            raise ValueError(f"`formula`: cbind(...) responses are binomial (successes, failures); got family "
                             f"{family!r}.")
        args = [a.strip() for a in _split_top(s[6:-1], ",")]
        if len(args) != 2 or not all(args):
            raise ValueError(f"`formula`: cbind(...) needs two arguments, successes and failures; got {s!r}.")
        return "cbind", args
    return "expr", [s]


def _response(kind: str, parts: list[str], frame: pd.DataFrame, family: str, weights: np.ndarray | None,
              resp_name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Successes/counts ``k`` and trials/prior weights ``m`` from the response (NaN rows already dropped)."""
    if kind == "cbind":
        if weights is not None:
            raise ValueError("`weights` cannot be combined with a cbind(successes, failures) response: the "
                             "numbers of trials are the row totals. Drop `weights`.")
        s = _eval_expr(parts[0], frame, "number of successes")
        f = _eval_expr(parts[1], frame, "number of failures")
        for arr, label in ((s, parts[0]), (f, parts[1])):
            _check_counts(arr, f"cbind(...) argument {label!r}")
        return s, s + f, "cbind"
    y = _eval_expr(parts[0], frame, "response")
    if not np.all(np.isfinite(y)):
        bad = np.unique(y[~np.isfinite(y)])
        raise ValueError(f"`formula`: the response {resp_name!r} has {int((~np.isfinite(y)).sum())} non-finite "
                         f"value(s) {few(bad.tolist())}.")
    if family == "poisson":
        _check_counts(y, f"response {resp_name!r}")
        m = np.ones_like(y) if weights is None else weights
        return y, m, "count"
    # binomial
    if weights is None:
        bad = ~((y == 0) | (y == 1))
        if bad.any():
            vals = np.unique(y[bad])
            inside = bool(np.all((vals > 0) & (vals < 1)))
            hint = (" Values between 0 and 1 are proportions: give the numbers of trials as `weights` (as "
                    "lme4) or write cbind(successes, failures)." if inside else
                    " A binomial outcome is 0/1 (yes/no); for counts out of a number of trials write "
                    "cbind(successes, failures); for counts without an upper limit use family='poisson'.")
            raise ValueError(f"`formula`: the binomial response {resp_name!r} must be 0 or 1; {int(bad.sum())} "
                             f"row(s) have other values {few(vals.tolist())}.{hint}")
        return y, np.ones_like(y), "binary"
    if np.any((y < 0) | (y > 1)):
        vals = np.unique(y[(y < 0) | (y > 1)])
        raise ValueError(f"`formula`: with `weights` (numbers of trials) the binomial response {resp_name!r} is the "
                         f"proportion of successes and must lie in [0, 1]; got {few(vals.tolist())}.")
    k = y * weights
    kr = np.round(k)
    if np.any(np.abs(k - kr) > 1e-7 * np.maximum(1.0, np.abs(k))):
        bad = np.flatnonzero(np.abs(k - kr) > 1e-7 * np.maximum(1.0, np.abs(k)))
        raise ValueError(
            f"`weights`: for the binomial family the weights are numbers of trials and response x weights the "
            f"number of successes, which must be whole numbers; {bad.size} row(s) are not (e.g. {few(k[bad][:5])})."
        )
    return kr, weights, "proportion"


def _check_counts(arr: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`formula`: the {what} has non-finite values.")
    neg = arr < 0
    if neg.any():
        raise ValueError(f"`formula`: the {what} must be non-negative counts; {int(neg.sum())} row(s) are negative "
                         f"{few(np.unique(arr[neg]).tolist())}.")
    frac = np.abs(arr - np.round(arr)) > 1e-9 * np.maximum(1.0, np.abs(arr))
    if frac.any():
        raise ValueError(f"`formula`: the {what} must be whole numbers (counts); {int(frac.sum())} row(s) are not "
                         f"{few(np.unique(arr[frac]).tolist())}.")


# --------------------------------------------------------------------------- labelled vectors
def _vector_arg(value: Any, data: pd.DataFrame, name: str) -> np.ndarray | None:
    """``weights``/``offset``: None, a column name, or a vector aligned on ``data``'s index."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise ValueError(f"`{name}` names column {value!r}, which is not in `data`."
                             f"{did_you_mean(value, data.columns)}")
        col = data[value]
        if not (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)) \
                or pd.api.types.is_complex_dtype(col.dtype):
            raise TypeError(f"`{name}` column {value!r} must be numeric; got dtype {col.dtype}.")
        return col.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(value, pd.DataFrame):
        raise TypeError(f"`{name}` must be a column name or one value per row (a Series or 1-D array); "
                        "got a DataFrame.")
    if isinstance(value, pd.Series):
        value = align(value, data.index, name=name, ref_name="data")
        if not (pd.api.types.is_numeric_dtype(value.dtype) or pd.api.types.is_bool_dtype(value.dtype)):
            raise TypeError(f"`{name}` must be numeric; got dtype {value.dtype}.")
        return value.to_numpy(dtype=float, na_value=np.nan)
    if np.isscalar(value):
        raise TypeError(f"`{name}` must be a column name or one value per row; got the scalar {value!r}.")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric (one value per row of `data`).") from None
    if arr.ndim != 1 or len(arr) != len(data):
        raise ValueError(f"`{name}` must have one value per row of `data` ({len(data)}); got shape {arr.shape}.")
    return arr


# --------------------------------------------------------------------------- grouping
def _term_codes(factors: tuple[str, ...], frame: pd.DataFrame, cache: dict[str, tuple[np.ndarray, pd.Index]]
                ) -> tuple[np.ndarray, pd.Index]:
    parts = []
    for f in factors:
        if f not in cache:
            codes, labels = factorize(frame[f], name=f"data[{f!r}]")
            cache[f] = (codes, labels)
        parts.append(cache[f])
    if len(parts) == 1:
        return parts[0][0], parts[0][1]
    key = np.zeros(len(frame), dtype=np.int64)
    for c, lab in parts:
        key = key * (len(lab) + 1) + c
    codes, uniq = pd.factorize(key, sort=True)
    rest = uniq.astype(np.int64)
    idx = []
    for _, lab in reversed(parts):
        idx.append(rest % (len(lab) + 1))
        rest = rest // (len(lab) + 1)
    idx.reverse()
    arrays = [lab[i] for (_, lab), i in zip(parts, idx)]
    return codes.astype(np.intp), pd.MultiIndex.from_arrays(arrays, names=list(factors))


def _grouping(parsed: ParsedFormula, frame: pd.DataFrame, family: str, response_kind: str
              ) -> tuple[list[np.ndarray], list[str], dict[str, pd.Index], str]:
    cache: dict[str, tuple[np.ndarray, pd.Index]] = {}
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, pd.Index] = {}
    for t in parsed.random:
        if not t.is_intercept_only and len(parsed.random) > 1:
            raise ValueError(
                f"`formula`: the random term {t} has random slopes; glmm() fits random slopes for a single "
                "grouping factor, e.g. (1 + x | team), or random intercepts nested at any depth, "
                "(1 | trust/team), but not both in one model."
            )
        if t.group in codes:
            raise ValueError(f"`formula` has a random intercept for {t.group!r} twice.")
        codes[t.group], labels[t.group] = _term_codes(t.factors, frame, cache)
    names = list(codes)
    n = len(frame)
    for g in names:
        G = len(labels[g])
        if G < 2:
            raise ValueError(
                f"`formula`: grouping factor {g!r} has {G} group in the rows used; a variance needs at least two "
                "groups (lme4: 'grouping factors must have > 1 sampled level')."
            )
        if G == n and response_kind == "binary":
            raise ValueError(
                f"`formula`: grouping factor {g!r} has one row per group ({G:,} groups for {n:,} rows); with a "
                "0/1 outcome its variance cannot be identified (lme4 refuses this too)."
            )
    order = sorted(names, key=lambda g: (len(labels[g]), names.index(g)))
    for a, b in zip(order[:-1], order[1:]):
        if len(labels[a]) == len(labels[b]):
            pm = parent_map(codes[b], codes[a], len(labels[b]))
            if pm is not None and len(np.unique(pm)) == len(labels[a]):
                raise ValueError(
                    f"`formula`: grouping factors {a!r} and {b!r} define the same groups, so their variances "
                    "cannot be told apart; keep one of them."
                )
        pm = parent_map(codes[b], codes[a], len(labels[b]))
        if pm is None:
            pairs = np.unique(codes[b].astype(np.int64) * (len(labels[a]) + 1) + codes[a])
            multi = int(np.sum(np.bincount(pairs // (len(labels[a]) + 1), minlength=len(labels[b])) > 1))
            outer, inner = sorted((a, b), key=names.index)  # as written in the formula
            raise NotNestedError(
                f"`formula`: the grouping factors {a!r} and {b!r} are not nested ({multi:,} {b!r} group(s) occur in "
                f"more than one {a!r} group), so lme4 would fit crossed random effects, which glmm() does not. If "
                f"the {inner!r} labels are local numbers reused across {outer!r} groups, write the nested term "
                f"(1 | {outer}/{inner})."
            )
    desc = []
    for t in parsed.random:
        if len(t.factors) > 1:
            inner, outer = t.factors[-1], t.factors[:-1]
            n_inner = len(cache[inner][1])
            if len(labels[t.group]) > n_inner:
                desc.append(f"'{inner}' labels are reused across '{':'.join(outer)}', so the nested term "
                            f"(1 | {t.group}) has {len(labels[t.group]):,} groups")
    if len(order) > 1:
        desc.append("nested: " + " > ".join(f"{g} ({len(labels[g]):,})" for g in order))
    return [codes[g] for g in order], order, labels, "; ".join(desc)


# --------------------------------------------------------------------------- the fixed part
def _fixed_terms(fixed: str) -> tuple[str, list[str]]:
    """Remove ``offset(...)`` terms from the fixed part; returns ``(rest, offset expressions)``."""
    keep, offsets = [], []
    for piece in _split_top(fixed, "+"):
        s = piece.strip()
        if s.startswith("offset(") and s.endswith(")"):
            offsets.append(s[7:-1])
        elif s:
            keep.append(s)
    return (" + ".join(keep) if keep else "1"), offsets


def _build_design(fixed: str, frame: pd.DataFrame, response: str) -> tuple[pd.DataFrame, Any]:
    from formulaic import model_matrix

    try:
        with np.errstate(all="ignore"):  # log of a negative number: NaN, handled by the caller
            mm = model_matrix(fixed, frame, na_action="ignore")
    except Exception as exc:  # formulaic raises many error types
        raise ValueError(f"`formula`: could not build the fixed-effects design from {fixed!r}: {exc}") from None
    X = pd.DataFrame(np.asarray(mm, dtype=np.float64), index=frame.index, columns=[str(c) for c in mm.columns])
    quoted = {q for q in re.findall(r"`([^`]+)`", fixed) if q in frame.columns}
    check_design_names(X, frame, response, _formula_vars(fixed) | quoted)  # grouping columns are not terms
    _check_quoted(fixed, frame, list(X.columns))
    return X, mm.model_spec


def _check_quoted(fixed: str, frame: pd.DataFrame, names: list[str]) -> None:
    """A column quoted in backticks whose name another term also creates (`x:z` next to x*z, `a[T.b]` next to the
    categorical a): formulaic keeps one of the two, whichever it is. Rebuilt with the quoted columns renamed, the
    design shows the collision."""
    from formulaic import model_matrix

    quoted = [q for q in dict.fromkeys(re.findall(r"`([^`]+)`", fixed)) if q in frame.columns]
    if not quoted:
        return
    alias = {q: f"tc_quoted_column_{i}" for i, q in enumerate(quoted)}
    text = fixed
    for q, a in alias.items():
        text = text.replace(f"`{q}`", a)
    try:
        with np.errstate(all="ignore"):
            mm = model_matrix(text, frame.rename(columns=alias), na_action="ignore")
    except Exception:  # the original formula was built; leave it to the checks above
        return
    back = {a: q for q, a in alias.items()}
    full = [back.get(str(c), str(c)) for c in mm.columns]
    if len(full) != len(names):
        clash = [q for q in quoted if full.count(q) > 1] or quoted
        raise ValueError(
            f"`formula`: the column {clash[0]!r} of `data` has the name of another term of the formula (such as the "
            "interaction of two columns, or a category's dummy); formulaic would keep only one of them. Rename the "
            "column of `data`."
        )


def _design(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Checks of the fixed-effects design of the rows used: empty, all-zero columns, rank."""
    if X.shape[1] == 0:
        raise ValueError("`formula` has no fixed effects (not even an intercept); add '1 +'.")
    notes = []
    zero = [c for c in X.columns if not np.any(X[c].to_numpy() != 0.0)]
    if zero:
        msg = (f"fixed-effect column(s) {few(zero)} are zero in every row used (a category without rows, or a "
               "variable that is always 0) and were dropped")
        warn(f"glmm: {msg}.", DegenerateDataWarning)
        notes.append(msg)
        X = X.drop(columns=zero)
    if X.shape[1] == 0:
        raise ValueError("`formula`: no fixed-effect column is left.")
    rank, dep = relative_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise ValueError(
            f"`formula`: the fixed-effects design is rank deficient (rank {rank} < {X.shape[1]} columns); "
            f"column(s) {few([X.columns[j] for j in dep])} are linear combinations of the others. Remove them "
            "from the formula."
        )
    return X, notes


def _transformed_missing(X: pd.DataFrame, Z: np.ndarray | None, z_names: list[str]) -> np.ndarray:
    """Rows with a value made missing by a transformation (NaN); infinite values (inf in `data`, log(0)) refused."""
    parts = [("fixed-effect", X.to_numpy(), list(X.columns))]
    if Z is not None:
        parts.append(("random slope", Z, z_names))
    nan_rows = np.zeros(len(X), dtype=bool)
    for what, arr, names in parts:
        inf = np.isinf(arr)
        if inf.any():
            cols = [names[j] for j in np.flatnonzero(inf.any(axis=0))]
            rows = X.index[inf.any(axis=1)]
            raise ValueError(
                f"`data`: the {what} column(s) {few(cols)} have infinite values in {int(inf.any(axis=1).sum())} "
                f"row(s) {few(rows.tolist())} (inf in `data`, or e.g. log(0)); use NaN for a missing value (rows "
                "with NaN are handled by `nan_policy`), or drop or recode them."
            )
        nan_rows |= np.isnan(arr).any(axis=1)
    return nan_rows


def _required(parsed: ParsedFormula, fixed: str, offsets: list[str], resp_parts: list[str],
              data: pd.DataFrame) -> list[str]:
    from formulaic import Formula

    try:
        req = {str(v) for v in Formula(fixed).required_variables}
    except Exception as exc:  # formulaic raises several parser error types
        raise ValueError(f"`formula`: could not parse the fixed part {fixed!r}: {exc}") from None
    for e in offsets + resp_parts:
        req |= _names_in(e)
    for t in parsed.random:
        for sl in t.slopes:
            try:
                req |= {str(v) for v in Formula(sl).required_variables}
            except Exception as exc:  # formulaic raises several parser error types
                raise ValueError(f"`formula`: could not parse the random slope {sl!r}: {exc}") from None
    # names quoted in backticks (formulaic misreads some, e.g. `a[T.b]` as 'a[T')
    texts = [fixed] + [sl for t in parsed.random for sl in t.slopes]
    quoted = {q for text in texts for q in re.findall(r"`([^`]+)`", text) if q in data.columns}
    req |= quoted
    if "Intercept" in data.columns:
        design = set(quoted) | {str(v) for v in _formula_vars(fixed)}
        for t in parsed.random:
            for sl in t.slopes:
                design |= {str(v) for v in _formula_vars(sl)}
        if "Intercept" in design:
            raise ValueError(
                "`formula` uses a column of `data` named 'Intercept': formulaic would put it in place of the "
                "intercept (also named 'Intercept'), so the two could not be told apart. Rename the column of "
                "`data`."
            )
    unknown = sorted(v for v in req if v not in data.columns and v not in _KNOWN_FUNCTIONS and "." not in v
                     and not any(q.startswith(v) for q in quoted))
    if unknown:
        raise ValueError(f"`formula` names variable(s) {few(unknown)} that are not columns of `data`."
                         f"{did_you_mean(unknown[0], data.columns)} Columns: {few(list(data.columns), 10)}.")
    names = [v for v in data.columns if v in req]
    for c in parsed.group_columns:
        if c not in data.columns:
            raise ValueError(f"`formula` names grouping column {c!r}, which is not in `data`."
                             f"{did_you_mean(c, data.columns)}")
        if c not in names:
            names.append(c)
    return names


def _formula_vars(text: str) -> set[str]:
    from formulaic import Formula

    try:
        return {str(v) for v in Formula(text).required_variables}
    except Exception:  # formulaic raises several parser error types; _required reports them
        return set()


# --------------------------------------------------------------------------- everything
def prepare(parsed: ParsedFormula, data: pd.DataFrame, family: str, weights: Any, offset: Any,
            nan_policy: str) -> GLMMData:
    """Validate and convert; raises errors that name the user's parameter."""
    fixed, f_offsets = _fixed_terms(parsed.fixed)
    kind, resp_parts = _parse_response(parsed.response, family)
    if kind == "expr" and resp_parts[0] not in data.columns and not _names_in(resp_parts[0]):
        raise ValueError(f"`formula`: the response {resp_parts[0]!r} is not a column of `data`."
                         f"{did_you_mean(resp_parts[0], data.columns)}")
    variables = _required(parsed, fixed, f_offsets, resp_parts, data)
    w = _vector_arg(weights, data, "weights")
    off = _vector_arg(offset, data, "offset")
    sub = data[variables]
    missing = np.array(sub.isna().any(axis=1).to_numpy(), dtype=bool, copy=True)
    if w is not None:
        missing |= np.isnan(w)
    if off is not None:
        missing |= np.isnan(off)
    keep, n_dropped = apply_nan_policy(missing, nan_policy, name="data", what="the GLMM",
                                       labels=np.asarray(data.index))
    frame = sub if keep is None else sub.loc[keep]
    if keep is not None:
        w = None if w is None else w[keep]
        off = None if off is None else off[keep]
    if len(frame) == 0:
        raise ValueError(f"`data` has no complete rows for the model variables {few(variables)}.")
    # pandas 'string' columns (pd.NA-backed) as plain text, which formulaic reads as categorical (a new frame)
    groups = set(parsed.group_columns)
    text = [c for c in frame.columns if c not in groups and c != parsed.response
            and isinstance(frame[c].dtype, pd.StringDtype)
            and frame[c].dtype.na_value is pd.NA]
    if text:
        frame = frame.astype({c: object for c in text})
    # the designs, and the rows a transformation in the formula made missing (log of a negative number)
    X, spec = _build_design(fixed, frame, parsed.response)
    term = parsed.random[0]
    Z, z_names = (None, []) if term.is_intercept_only else _slope_design(term, frame)
    keep2, n_drop2 = apply_nan_policy(
        _transformed_missing(X, Z, z_names), nan_policy, name="formula",
        what="the GLMM (values made missing by a transformation in the formula, e.g. log of a negative number)",
        labels=np.asarray(frame.index))
    pre_notes = []
    if keep2 is not None:
        if not keep2.any():
            raise ValueError(f"`formula`: a transformation in {parsed.formula!r} made a value missing in every one of "
                             f"the {n_drop2:,} rows (e.g. log of a negative number): no rows left to fit.")
        frame, X = frame.loc[keep2], X.loc[keep2]
        Z = None if Z is None else Z[keep2]
        w = None if w is None else w[keep2]
        off = None if off is None else off[keep2]
        n_dropped += n_drop2
        pre_notes.append(f"{n_drop2:,} rows dropped because a transformation in the formula made a value missing")
    if Z is not None:
        _check_slope_rank(term, Z, z_names)
    if w is not None:
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            bad = w[~np.isfinite(w) | (w < 0)]
            raise ValueError(f"`weights` must be finite and >= 0; {bad.size} value(s) are not "
                             f"{few(np.unique(bad).tolist())}.")
        if family == "binomial":
            frac = np.abs(w - np.round(w)) > 1e-9 * np.maximum(1.0, w)
            if frac.any():
                raise ValueError(
                    f"`weights`: for the binomial family the weights are numbers of trials and must be whole "
                    f"numbers; {int(frac.sum())} are not {few(np.unique(w[frac]).tolist())}. (Survey or "
                    "precision weights are not likelihood weights of a binomial GLMM.)"
                )
    if off is not None and not np.all(np.isfinite(off)):
        raise ValueError("`offset` has infinite values (log of a zero exposure?).")
    for e in f_offsets:
        o = _eval_expr(e, frame, "offset")
        if not np.all(np.isfinite(o)):
            raise ValueError(f"`formula`: offset({e}) has non-finite values in {int((~np.isfinite(o)).sum())} "
                             "row(s) (log of a zero exposure?).")
        off = o if off is None else off + o
    k, m, response_kind = _response(kind, resp_parts, frame, family, w, parsed.response)
    if family == "binomial" and np.any(k > m):
        bad = np.flatnonzero(k > m)
        raise ValueError(f"`formula`: the number of successes exceeds the number of trials in {bad.size} row(s) "
                         f"(first rows {few(frame.index[bad][:5].tolist())}).")
    if np.all(m == 0):
        raise ValueError("`weights` are all zero: no row contributes to the likelihood.")
    X, notes = _design(X)
    notes = pre_notes + notes
    if len(frame) <= X.shape[1]:
        raise ValueError(f"`data` has {len(frame)} complete rows, too few for {X.shape[1]} fixed effects.")
    codes, order, labels, nesting = _grouping(parsed, frame, family, response_kind)
    _check_degenerate_response(k, m, family, parsed.response)
    if Z is not None:
        nesting = ""
    return GLMMData(X=X, k=k, m=m, offset=off, codes=codes, level_names=order, labels=labels,
                    n_dropped=n_dropped, frame=frame, model_spec=spec, response_kind=response_kind,
                    nesting=nesting, notes=notes, Z=Z, z_names=z_names)


def _slope_design(term: Any, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Columns of a random-slopes term: the model matrix of its left-hand side, as lme4 builds it (with the
    intercept, a categorical slope in treatment contrasts: ``(c | g)`` is ``(Intercept)`` and ``c[T.b]``)."""
    from formulaic import model_matrix

    lhs = " + ".join((["1"] if term.intercept else ["0"]) + list(term.slopes))
    try:
        with np.errstate(all="ignore"):  # log of a negative number: NaN, handled by the caller
            mm = model_matrix(lhs, frame, na_action="ignore")
    except Exception as exc:  # formulaic raises many error types
        raise ValueError(f"`formula`: could not build the random-effects design of {term}: {exc}") from None
    cols, names = [], []
    for c in mm.columns:
        v = np.asarray(mm[c], dtype=float)
        name = "(Intercept)" if term.intercept and str(c) == "Intercept" else str(c)
        if name in frame.columns and pd.api.types.is_numeric_dtype(frame[name].dtype) \
                and not pd.api.types.is_bool_dtype(frame[name].dtype) \
                and not np.array_equal(v, frame[name].to_numpy(dtype=np.float64, na_value=np.nan), equal_nan=True):
            raise ValueError(
                f"`formula`: the column {name!r} of `data` has the name of another term of the random-effects term "
                f"{term}; formulaic would keep only one of them. Rename the column of `data`."
            )
        cols.append(v)
        names.append(name)
    if len(names) != len(set(names)) or (term.intercept and names[0] != "(Intercept)"):
        raise ValueError(f"`formula`: the random-effects design of {term} has columns that could not be told apart "
                         f"({few(names)}); rename the columns of `data`.")
    return np.column_stack(cols), names


def _check_slope_rank(term: Any, Z: np.ndarray, names: list[str]) -> None:
    rank, dep = relative_rank(Z)
    if rank < Z.shape[1]:
        raise ValueError(f"`formula`: the random-effects design of {term} is rank deficient (columns "
                         f"{few([names[j] for j in dep])}).")


def _check_degenerate_response(k: np.ndarray, m: np.ndarray, family: str, name: str) -> None:
    if family == "binomial":
        if float(k.sum()) == 0.0 or float((m - k).sum()) == 0.0:
            which = "0 (no successes)" if float(k.sum()) == 0.0 else "1 (no failures)"
            raise ValueError(f"`formula`: the response {name!r} is {which} in every row used; a binomial model "
                             "cannot be fitted to a constant outcome.")
    elif float((m * k).sum()) == 0.0:
        raise ValueError(f"`formula`: the response {name!r} is 0 in every row used; a Poisson model cannot be "
                         "fitted (the rate estimate is 0, its logarithm -inf).")
