"""Exact REML/ML for random slopes and crossed factors by two-stage block elimination.

Every linear mixed model that is not a nested random-intercept model (those
use :mod:`teamculture.multilevel._engine`) is fitted here: correlated random
slopes ``(1 + x | team)``, uncorrelated ones (``(1 + x || team)`` =
``(1 | team) + (0 + x | team)``), slopes of teams nested in trusts
(``(1 | trust) + (1 + x | team)``, ``(1 | trust) + (1 | team) + (0 + x |
team)``), and crossed grouping factors (``(1 | team) + (1 | occupation)``,
``(1 | trust) + (1 | year)``), with intercepts or slopes. No ``n x n``
matrix is formed and no dense matrix over all random effects either.

**Model.** Grouping factor :math:`f` has :math:`G_f` levels and a template of
:math:`q_f` random-effects columns (the columns of all its terms); lme4's
relative covariance factor is :math:`\\Lambda = \\oplus_f I_{G_f} \\otimes
T_f`, with :math:`T_f` lower triangular and block diagonal over the terms of
:math:`f` (one full lower triangle per correlated term, so uncorrelated terms
of one factor have zero covariance); ``theta`` holds the column-wise lower
triangles of the blocks (lme4's ``theta``). With :math:`W = [X, y]`
(:math:`d = p + 1` columns) the profiled criteria need

.. math::

   \\Psi = W^\\top V^{-1} W\\,\\sigma^2, \\qquad
   \\ell = \\log|V/\\sigma^2| = \\log|I + \\Lambda^\\top Z^\\top Z\\Lambda|,

where :math:`V/\\sigma^2 = I + Z\\Lambda\\Lambda^\\top Z^\\top`.

**Stage A: the largest factor.** Let factor 1 (the one with most random
effects, :math:`G_1 q_1`, e.g. teams) have levels :math:`j`. Its block of
:math:`Z^\\top Z` is block diagonal (each row lies in one level), so it is
eliminated level by level: with :math:`A_j = Z_{1j}^\\top Z_{1j}`,

.. math::

   D_j = I + T_1^\\top A_j T_1, \\qquad P_j = T_1 D_j^{-1} T_1^\\top
   = (I + \\Gamma_1 A_j)^{-1}\\Gamma_1, \\qquad \\ell_A = \\sum_j \\log|D_j|,

(:math:`\\Gamma_1 = T_1T_1^\\top`) and everything else -- the other factors'
random effects (the *rest*, unscaled columns :math:`Z_r`) and :math:`W` --
sees factor 1 only through the Schur complements

.. math::

   \\Omega_{rr} = Z_r^\\top Z_r - \\sum_j N_j^\\top P_j N_j, \\quad
   \\Omega_{rW} = Z_r^\\top W - \\sum_j N_j^\\top P_j Z_{1j}^\\top W, \\quad
   \\Omega_{WW} = W^\\top W - \\sum_j W^\\top Z_{1j} P_j Z_{1j}^\\top W,

with :math:`N_j = Z_{1j}^\\top Z_r` (sparse: only the rest columns that share
rows with level :math:`j`). :math:`\\Omega` is *linear* in the
:math:`P_j`: one sparse matrix :math:`\\mathcal L` (built once from the
rows) maps the stacked :math:`P_j` to all entries of :math:`\\Omega` that can
be nonzero, so each evaluation costs one sparse product, whatever the
sizes of the coarser groups.

**Stage B: the rest.** :math:`\\Omega_{rr}` is block diagonal over the
connected components of the rest columns (columns linked when they share a
level of factor 1): one component per trust when teams are nested in trusts
(sizes :math:`q_{trust}`), one component of all occupations (or of trusts and
occupations together) when factors are crossed. Components are batched by
size and factorised densely: with :math:`\\Lambda_r` the rest's factor and
:math:`R = \\Omega_{rW}`,

.. math::

   D_r = I + \\Lambda_r^\\top\\Omega_{rr}\\Lambda_r, \\quad
   P_r = \\Lambda_r D_r^{-1}\\Lambda_r^\\top, \\quad
   \\ell = \\ell_A + \\log|D_r|, \\quad
   \\Psi = \\Omega_{WW} - R^\\top P_r R.

Memory and time are :math:`O(n\\,d^2)` for the one pass over the rows (or
over the cells of the crossed factors), then per evaluation
:math:`O(G_1 q_1^3 + \\mathrm{nnz}(\\mathcal L) + \\sum_c s_c^3)` for
components of sizes :math:`s_c`. The profiled criteria are lme4's: with
:math:`r = 1/(\\Psi^{-1})_{yy}` the generalised residual sum of squares, the
ML deviance :math:`\\ell + n(1 + \\log(2\\pi r/n))` and the REML criterion
:math:`\\ell + \\log|\\Psi_{XX}| + (n - p)(1 + \\log(2\\pi r/(n - p)))`.
Columns of :math:`X` (but the intercept) and :math:`y` are centred at their
means first when :math:`X` has an intercept (a unit-determinant
reparametrisation, undone for the reported estimates), which keeps
:math:`W^\\top W` from cancelling.

**Exact derivatives.** Write :math:`\\Gamma_f = T_fT_f^\\top` with
coordinates :math:`\\gamma` (its lower triangle on the template pattern,
:math:`\\Gamma = \\sum_u \\gamma_u B_u`). With :math:`K = I - P\\,A = (I +
\\Gamma A)^{-1}` and :math:`C = A K` (symmetric), the push-through identity
gives, for :math:`P = (I + \\Gamma A)^{-1}\\Gamma` and
:math:`\\log|I + \\Gamma A|`,

.. math::

   \\partial_u P = K B_u K^\\top, \\quad
   \\partial_{uv} P = -K(B_vCB_u + B_uCB_v)K^\\top, \\quad
   \\partial_u \\ell = \\operatorname{tr}(B_uC), \\quad
   \\partial_{uv}\\ell = -\\operatorname{tr}(B_uCB_vC),

and, when :math:`A = \\Omega` itself depends on :math:`\\gamma_a` (stage B
depends on factor 1 through :math:`\\Omega`): :math:`\\partial_a P = -P\\,
\\Omega_a P`, :math:`\\partial_a K = -P\\Omega_aK`, :math:`\\partial_a C =
K^\\top\\Omega_aK`, :math:`\\partial_a\\ell = \\operatorname{tr}(P\\Omega_a)`.
Stage A's derivatives of :math:`P_j` go through the same :math:`\\mathcal L`
(it is linear), stage B's are formed with thin products
(:math:`s_c \\times d`), so the exact gradient and Hessian of :math:`\\Psi`
and :math:`\\ell` cost a small multiple of one evaluation -- again
independent of how unequal the groups are. The chain rule
:math:`\\partial\\gamma_{ij}/\\partial\\theta_{rc} = \\delta_{ir}T_{jc} +
T_{ic}\\delta_{jr}` maps them to ``theta``. They serve two purposes: the
optimiser (damped Newton on the exact Hessian, eigenvalues of an indefinite
Hessian flipped; a bounded quasi-Newton search with the exact gradient from
several starts backs it up) and lmerTest's Satterthwaite degrees of freedom
(:func:`teamculture.multilevel._satterthwaite.satterthwaite_from_derivatives`
with the exact Hessian of the deviance in ``(theta, sigma)`` and the exact
Jacobian of :math:`\\operatorname{Cov}(\\hat\\beta)`).

The criterion is invariant under flipping the sign of a column of
:math:`T_f`, so the optimiser works unconstrained and the signs are normalised
at the end (Cholesky diagonals >= 0, as lme4's); a diagonal below 1e-4
(relative to the residual SD, with each random-slope covariate measured in
units of its root mean square, so that the rule and the optimiser do not
depend on the covariate's unit; lme4 applies it in the covariate's own
units) is set to exactly 0 when that does not worsen
the criterion, and makes the fit singular (lme4's ``isSingular`` rule).

**BLUPs.** The conditional modes solve lme4's penalised least squares; by
the same elimination, with :math:`w = (-\\hat\\beta, 1)`: :math:`\\hat b_r =
P_rRw`, :math:`\\hat b_{1j} = P_j(Z_{1j}^\\top Ww - N_j\\hat b_r)`; conditional
covariances :math:`\\hat\\sigma^2P_r` (blocks of the rest) and
:math:`\\hat\\sigma^2(P_j + P_jN_jP_rN_j^\\top P_j)` (factor 1) -- lme4's
``ranef(condVar = TRUE)``.

R: ``lmerTest::lmer(y ~ x + (1 | trust) + (1 + x | team), data)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse
from scipy.sparse import csgraph

from teamculture._core.groups import parent_map
from teamculture.multilevel._lmm_common import (
    SINGULAR_TOL,
    BackendFit,
    chol_labels,
    correlated_variances,
    covariate,
    fixed_effects_table,
    term_columns,
)

__all__ = ["Factor", "BlockedModel", "fit_blocked", "DENSE_LIMIT"]

_LOG2PI = float(np.log(2.0 * np.pi))

#: Largest total size (sum over components of size squared) of the dense stage-B
#: blocks: the random effects that remain coupled after eliminating the largest
#: factor. With :data:`DENSE_FLOPS` (sum of size cubed, the cost of one
#: factorisation) it bounds memory (~30 MB per block array) and time (about a
#: second per evaluation on one core); larger problems are refused.
DENSE_LIMIT = 4_000_000
DENSE_FLOPS = 2.5e9


# --------------------------------------------------------------------------- structure
@dataclass(frozen=True)
class Factor:
    """One grouping factor of the random part and its covariance template.

    Attributes
    ----------
    name : str
        The grouping factor as written (``"team"``, ``"trust:team"``).
    columns : tuple of str
        Template columns (``"Intercept"`` or a slope), terms in formula order.
    blocks : tuple of tuple of int
        Positions (in ``columns``) of each term: correlated within a block,
        uncorrelated between blocks.
    codes : numpy.ndarray
        Level code ``0..n_levels-1`` of each row.
    n_levels : int
        Number of levels.
    """

    name: str
    columns: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]
    codes: np.ndarray
    n_levels: int

    @property
    def q(self) -> int:
        return len(self.columns)

    @property
    def coords(self) -> list[tuple[int, int]]:
        """``(row, col)`` of each ``theta`` element (column-wise lower triangle of each block)."""
        out = []
        for blk in self.blocks:
            for a in range(len(blk)):
                for b in range(a, len(blk)):
                    out.append((blk[b], blk[a]))
        return out


def _lam(theta: np.ndarray, coords: Sequence[tuple[int, int]], q: int) -> np.ndarray:
    L = np.zeros((q, q))
    for t, (r, c) in zip(theta, coords):
        L[r, c] = t
    return L


def _pairs(u: tuple[int, int]) -> list[tuple[int, int]]:
    """Elementary pieces of the basis matrix ``B_u`` of a covariance coordinate."""
    i, j = u
    return [(i, i)] if i == j else [(i, j), (j, i)]


def _gamma_chain(L: np.ndarray, coords: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``d gamma / d theta`` (``(k, k)``, rows gamma) and ``d2 gamma / d theta2`` (``(k, k, k)``)."""
    k = len(coords)
    G = np.zeros((k, k))
    H = np.zeros((k, k, k))
    for u, (i, j) in enumerate(coords):
        for a, (r, c) in enumerate(coords):
            G[u, a] = (L[j, c] if i == r else 0.0) + (L[i, c] if j == r else 0.0)
            for b, (r2, c2) in enumerate(coords):
                if c == c2:
                    H[u, a, b] = float(i == r and j == r2) + float(i == r2 and j == r)
    return G, H


# --------------------------------------------------------------------------- small batched algebra
def _chol_small(M: np.ndarray) -> np.ndarray:
    """Cholesky factors of SPD matrices laid out ``(q, q, J)``, vectorised over ``J``."""
    q = M.shape[0]
    C = np.zeros_like(M)
    for j in range(q):
        s = M[j, j] - sum(C[j, k] ** 2 for k in range(j))
        if not np.all(s > 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        C[j, j] = np.sqrt(s)
        for i in range(j + 1, q):
            C[i, j] = (M[i, j] - sum(C[i, k] * C[j, k] for k in range(j))) / C[j, j]
    return C


def _segment_pairs(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs ``(i, k)``, ``i <= k``, of entries within the same segment.

    ``seg`` is sorted (entries of one segment are contiguous).
    """
    m = len(seg)
    if m == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    lengths = np.diff(np.r_[starts, m])
    seg_len = np.repeat(lengths, lengths)
    pos = np.arange(m) - np.repeat(starts, lengths)
    cnt = seg_len - pos
    first = np.repeat(np.arange(m), cnt)
    offs = np.arange(len(first)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return first, first + offs


def _pair_index(a: np.ndarray, b: np.ndarray, n_b: int, n_a: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` code pairs of the rows: ``(row -> pair, pair -> a, pair -> b)``."""
    pm = parent_map(a, b, n_a)
    if pm is not None:  # each a lies in one b (nested): the pairs are the a levels
        return a, np.arange(n_a, dtype=np.intp), pm
    key = a.astype(np.int64) * n_b + b
    uniq, inv = np.unique(key, return_inverse=True)
    return inv.astype(np.intp), (uniq // n_b).astype(np.intp), (uniq % n_b).astype(np.intp)


def _unique_inverse(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for integer keys in ``[0, n_keys)`` (a table when small)."""
    if n_keys <= 50_000_000:
        seen = np.zeros(n_keys, dtype=bool)
        seen[keys] = True
        uniq = np.flatnonzero(seen)
        rank = np.zeros(n_keys, dtype=np.intp)
        rank[uniq] = np.arange(len(uniq))
        return uniq.astype(np.int64), rank[keys]
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, inv.astype(np.intp)


# --------------------------------------------------------------------------- the model
class BlockedModel:
    """Profiled REML/ML criterion of a linear mixed model with exact derivatives (see the module notes).

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, p)`` fixed-effects design (full column rank).
    y : numpy.ndarray
        ``(n,)`` response.
    factors : sequence of Factor
        The grouping factors.
    Z : mapping of str to numpy.ndarray
        The random-effects covariates by template column name (``"Intercept"``
        may be omitted: ones).
    unit_covariates : bool
        Use each covariate in units of its root mean square inside the model
        (``theta`` and the BLUPs of :meth:`conditional_modes` are then in those
        units; :meth:`column_scale` gives the factors and :func:`fit_blocked`
        reports in the caller's units). :func:`~teamculture.mixed` sets it, so
        that the start, the boundary rule and the optimiser do not depend on
        the unit of a slope covariate.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, factors: Sequence[Factor], Z: Mapping[str, np.ndarray],
                 *, unit_covariates: bool = False) -> None:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        n, p = X.shape
        self.n, self.p, self.d = n, p, p + 1
        # centring (unit-determinant reparametrisation), as the nested engine; W column-major
        lo, hi = X.min(axis=0), X.max(axis=0)
        const = [j for j in range(p) if lo[j] == hi[j] and lo[j] != 0]
        W = np.empty((n, p + 1), order="F")
        W[:, :p] = X
        W[:, p] = y
        self.shift = None
        self.const_col = const[0] if const else -1
        self.const_value = float(X[0, const[0]]) if const else 1.0
        if const:
            m = np.array([W[:, j].mean() for j in range(p + 1)])
            m[const[0]] = 0.0
            for j in range(p + 1):
                if m[j] != 0.0:
                    W[:, j] -= m[j]
            self.shift = m
        # factor order: the largest (random effects) first, then the rest in the given order
        sizes = [f.n_levels * f.q for f in factors]
        first = int(np.argmax(sizes))
        self.factors = [factors[first]] + [f for i, f in enumerate(factors) if i != first]
        f1 = self.factors[0]
        rest = self.factors[1:]
        self.f1, self.rest = f1, rest
        self.q1 = f1.q
        self.J = f1.n_levels
        self.coords = [f.coords for f in self.factors]
        self.k_f = [len(c) for c in self.coords]
        self.k1 = self.k_f[0]
        self.k = int(sum(self.k_f))

        J, q1, d = self.J, self.q1, self.d
        c1 = f1.codes
        # ---- one pass over the rows: per-cell sums of the distinct products of the columns. A cell is a
        # combination of levels of all factors (a level of factor 1 when the others are coarser factors it
        # is nested in); every cross product below is a sum of cell sums.
        cell, cell_level = self._cells(n)
        n_cells = len(cell_level[0]) if cell is not None else J
        arrays: dict[str, np.ndarray] = {}
        wnames = []
        for w in range(d):
            if w == self.const_col and self.const_value == 1.0:
                wnames.append("1")
            else:
                wnames.append(f"w{w}")
                arrays[f"w{w}"] = W[:, w]
        # random-slope covariates are used in units of their root mean square (the relative Cholesky
        # factor is then unit-free: its start, the boundary rule and the optimiser's steps do not depend on
        # the unit of the covariate); fit_blocked reports theta, BLUPs and variances in the caller's units
        self.z_scale: dict[str, float] = {}
        for f in self.factors:
            for c in f.columns:
                if c != "Intercept" and f"z:{c}" not in arrays:
                    z = np.asarray(Z[c], dtype=float)
                    rms = float(np.sqrt(np.mean(z * z))) if z.size else 0.0
                    if not (np.isfinite(rms) and rms > 0):
                        rms = float(np.max(np.abs(z))) if z.size and np.isfinite(np.max(np.abs(z))) else 0.0
                    rms = rms if (unit_covariates and np.isfinite(rms) and rms > 0) else 1.0
                    self.z_scale[c] = rms
                    arrays[f"z:{c}"] = z / rms
        cache: dict[tuple[str, str], np.ndarray] = {}
        codes_cell = cell if cell is not None else c1

        def S(u: str, v: str) -> np.ndarray:
            key = (u, v) if u <= v else (v, u)
            if key not in cache:
                if key == ("1", "1"):
                    wts = None
                elif key[0] == "1":
                    wts = arrays[key[1]]
                else:
                    wts = arrays[key[0]] * arrays[key[1]]
                cache[key] = np.bincount(codes_cell, weights=wts, minlength=n_cells).astype(float)
            return cache[key]

        def zn(c: str) -> str:
            return "1" if c == "Intercept" else f"z:{c}"

        def agg(level: np.ndarray | None, vals: np.ndarray, m: int) -> np.ndarray:
            return vals if level is None else np.bincount(level, weights=vals, minlength=m)

        l1 = cell_level[0] if cell is not None else None
        z1 = [zn(c) for c in f1.columns]
        self.A = np.empty((q1, q1, J))
        for a in range(q1):
            for b in range(a, q1):
                self.A[a, b] = self.A[b, a] = agg(l1, S(z1[a], z1[b]), J)
        ZW = np.empty((q1, d, J))
        for a in range(q1):
            for w in range(d):
                ZW[a, w] = agg(l1, S(z1[a], wnames[w]), J)
        self.ZW = ZW
        # rest columns: factor offset + level * q_f + template column
        offs = np.cumsum([0] + [f.n_levels * f.q for f in rest])
        self.rest_offset = offs[:-1]
        Mr = int(offs[-1])
        self.Mr = Mr
        cl1 = l1 if l1 is not None else np.arange(J)
        cl_rest = cell_level[1:] if cell is not None else list(self._parents)
        # entries of [N_j, Z_1j'W]: (level j, column, vector over the q1 template columns)
        ent_j, ent_col, ent_val = [], [], []
        for fi, f in enumerate(rest):
            cf = cl_rest[fi]
            cell_pair, pj, pl = _pair_index(cl1, cf, f.n_levels, J)
            npair = len(pj)
            for i, c in enumerate(f.columns):
                vals = np.empty((npair, q1))
                for a in range(q1):
                    vals[:, a] = np.bincount(cell_pair, weights=S(z1[a], zn(c)), minlength=npair)
                ent_j.append(pj)
                ent_col.append(offs[fi] + pl * f.q + i)
                ent_val.append(vals)
        for w in range(d):
            ent_j.append(np.arange(J))
            ent_col.append(np.full(J, Mr + w))
            ent_val.append(ZW[:, w, :].T)
        ej = np.concatenate(ent_j)
        ecol = np.concatenate(ent_col).astype(np.int64)
        ev = np.concatenate(ent_val, axis=0)
        order = np.lexsort((ecol, ej))
        ej, ecol, ev = ej[order], ecol[order], ev[order]
        first_, second_ = _segment_pairs(ej)
        ncol = Mr + d
        keys = ecol[first_] * ncol + ecol[second_]
        # the pack of each P_j: upper triangle (a <= b), row-major
        self.iu = [(a, b) for a in range(q1) for b in range(a, q1)]
        npk = len(self.iu)
        self.npk = npk
        v1, v2 = ev[first_], ev[second_]
        wts = np.empty((len(first_), npk))
        for t, (a, b) in enumerate(self.iu):
            wts[:, t] = v1[:, a] * v2[:, b] + (v1[:, b] * v2[:, a] if a != b else 0.0)
        uniq, out_row = _unique_inverse(keys, ncol * ncol)
        self.keys = uniq
        # L' in CSR, built without sorting: rows (j, t) in order, pairs of level j in their order
        npairs = len(first_)
        pj = ej[first_]
        cnt = np.bincount(pj, minlength=J)
        start = np.r_[0, np.cumsum(cnt)[:-1]]
        within = np.arange(npairs) - start[pj]
        pos = (npk * start[pj])[:, None] + np.arange(npk)[None, :] * cnt[pj][:, None] + within[:, None]
        data = np.empty(npairs * npk)
        indices = np.empty(npairs * npk, dtype=np.intp)
        data[pos] = wts
        indices[pos] = out_row[:, None]
        indptr = np.r_[0, np.cumsum(np.repeat(cnt, npk))]
        self.LmapT = sparse.csr_matrix((data, indices, indptr), shape=(J * npk, len(uniq)))
        # the entries of N_j alone (rest columns), for the BLUPs; and the rest pairs, for their variances
        is_rest = ecol < Mr
        self.N_j, self.N_col, self.N_val = ej[is_rest], ecol[is_rest], ev[is_rest]
        rr = (ecol[first_] < Mr) & (ecol[second_] < Mr)
        self.rr_j = ej[first_][rr]
        self.rr_u, self.rr_v = ecol[first_][rr], ecol[second_][rr]
        self.rr_v1, self.rr_v2 = v1[rr], v2[rr]
        # constant part Omega0 on the same keys
        om0 = np.zeros(len(uniq))

        def put(k1: np.ndarray, k2: np.ndarray, vals: np.ndarray) -> None:
            lo, hi = np.minimum(k1, k2), np.maximum(k1, k2)
            kk = lo.astype(np.int64) * ncol + hi
            pos = np.searchsorted(uniq, kk)
            if np.any(pos >= len(uniq)) or np.any(uniq[np.minimum(pos, len(uniq) - 1)] != kk):
                raise AssertionError("internal: a cross product outside the elimination pattern")
            np.add.at(om0, pos, vals)

        WW = W.T @ W
        iw, jw = np.triu_indices(d)
        put(Mr + iw, Mr + jw, WW[iw, jw])
        for fi, f in enumerate(rest):
            cf = cl_rest[fi]
            base = offs[fi] + np.arange(f.n_levels) * f.q
            for i, c in enumerate(f.columns):
                for i2 in range(i, f.q):
                    put(base + i, base + i2, np.bincount(cf, weights=S(zn(c), zn(f.columns[i2])), minlength=f.n_levels))
                for w in range(d):
                    put(base + i, np.full(f.n_levels, Mr + w),
                        np.bincount(cf, weights=S(zn(c), wnames[w]), minlength=f.n_levels))
            for gi in range(fi + 1, len(rest)):
                g = rest[gi]
                cell_pair, pl, pm = _pair_index(cf, cl_rest[gi], g.n_levels, f.n_levels)
                for i, c in enumerate(f.columns):
                    for i2, c2 in enumerate(g.columns):
                        vals = np.bincount(cell_pair, weights=S(zn(c), zn(c2)), minlength=len(pl))
                        put(offs[fi] + pl * f.q + i, offs[gi] + pm * g.q + i2, vals)
        self.omega0 = om0
        self._setup_rest()

    def _cells(self, n: int) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """Row -> cell codes and, per factor (internal order), cell -> level.

        ``(None, [])`` when every other factor is coarser than factor 1 (factor 1
        nested in it): the cells are then factor 1's levels, and
        ``self._parents`` maps them to each other factor's levels.
        """
        f1 = self.factors[0]
        parents = [parent_map(f1.codes, f.codes, f1.n_levels) for f in self.factors[1:]]
        if all(pm is not None for pm in parents):
            self._parents = parents
            return None, []
        key = f1.codes.astype(np.int64)
        for f in self.factors[1:]:
            if (int(key.max()) + 1) * f.n_levels >= 2**62:
                key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            key = key * f.n_levels + f.codes
        uniq, cell = np.unique(key, return_inverse=True)
        cell = cell.astype(np.intp)
        levels = []
        for f in self.factors:
            lev = np.empty(len(uniq), dtype=np.intp)
            lev[cell] = f.codes
            levels.append(lev)
        return cell, levels

    # ----------------------------------------------------------------- rest components
    def _setup_rest(self) -> None:
        Mr, d, ncol = self.Mr, self.d, self.Mr + self.d
        ku, kv = self.keys // ncol, self.keys % ncol
        self.ww_idx = np.flatnonzero(ku >= Mr)
        self.ww_pos = (ku[self.ww_idx] - Mr, kv[self.ww_idx] - Mr)
        self.buckets: list[dict[str, Any]] = []
        if Mr == 0:
            return
        rr = np.flatnonzero(kv < Mr)
        n_comp, comp = csgraph.connected_components(
            sparse.coo_matrix((np.ones(len(rr)), (ku[rr], kv[rr])), shape=(Mr, Mr)), directed=False)
        size = np.bincount(comp, minlength=n_comp)
        cells = int(np.sum(size.astype(np.int64) ** 2))
        flops = float(np.sum(size.astype(float) ** 3))
        if cells > DENSE_LIMIT or flops > DENSE_FLOPS:
            raise ValueError(
                f"`formula`: after eliminating {self.f1.name!r}, the other random effects form coupled blocks "
                f"of up to {int(size.max()):,} columns ({cells:,} dense entries); that is beyond this engine's dense "
                "step (about 1,500 columns). Crossed factors that both have thousands of levels, or three or more "
                "nested levels with slopes where the second finest has thousands of groups per coarse group, are "
                "not supported.")
        # bucket components by size (exact sizes if few, else powers of two with identity padding)
        distinct = np.unique(size)
        bsize = size if len(distinct) <= 8 else 2 ** np.ceil(np.log2(size)).astype(int)
        self.comp_of = comp
        pos = np.empty(Mr, dtype=np.intp)
        order = np.lexsort((np.arange(Mr), comp))
        starts = np.r_[0, np.cumsum(size)[:-1]]
        pos[order] = np.arange(Mr) - np.repeat(starts, size)
        self.pos_of = pos
        sel_b = bsize[comp]
        # theta coordinates of the rest, in internal order (after factor 1's)
        kstart = self.k1
        for s in np.unique(bsize):
            comps = np.flatnonzero(bsize == s)
            local = np.full(n_comp, -1, dtype=np.intp)
            local[comps] = np.arange(len(comps))
            nc = len(comps)
            b: dict[str, Any] = {"s": int(s), "nc": nc, "local": local}
            # rr keys in this bucket
            m = rr[sel_b[ku[rr]] == s]
            b["rr_idx"] = m
            b["rr_c"] = local[comp[ku[m]]]
            b["rr_u"], b["rr_v"] = pos[ku[m]], pos[kv[m]]
            rw = np.flatnonzero((ku < Mr) & (kv >= Mr))
            rw = rw[sel_b[ku[rw]] == s]
            b["rw_idx"], b["rw_c"], b["rw_u"], b["rw_w"] = rw, local[comp[ku[rw]]], pos[ku[rw]], kv[rw] - Mr
            # Lambda / B patterns: per rest theta coordinate, positions in the bucket
            lc, lr, lcc, lt = [], [], [], []
            kk = kstart
            for fi, f in enumerate(self.rest):
                base = self.rest_offset[fi] + np.arange(f.n_levels) * f.q
                inb = sel_b[base] == s
                for (r, c) in f.coords:
                    cols_r, cols_c = base[inb] + r, base[inb] + c
                    lc.append(local[comp[cols_r]])
                    lr.append(pos[cols_r])
                    lcc.append(pos[cols_c])
                    lt.append(np.full(int(inb.sum()), kk))
                    kk += 1
            b["lam_c"], b["lam_r"] = np.concatenate(lc), np.concatenate(lr)
            b["lam_cc"], b["lam_t"] = np.concatenate(lcc), np.concatenate(lt)
            kr = self.k - self.k1
            B = np.zeros((kr, nc, int(s), int(s)))
            tt = b["lam_t"] - kstart
            B[tt, b["lam_c"], b["lam_r"], b["lam_cc"]] = 1.0
            B[tt, b["lam_c"], b["lam_cc"], b["lam_r"]] = 1.0
            b["B"] = B
            b["diag"] = bool(np.all(b["lam_r"] == b["lam_cc"]))
            if b["diag"]:
                b["Bd"] = np.ascontiguousarray(np.diagonal(B, axis1=2, axis2=3))
            self.buckets.append(b)

    # ----------------------------------------------------------------- evaluation
    def _stage_a(self, theta1: np.ndarray, order: int) -> dict[str, Any]:
        """Per level of factor 1: ``P_j`` and ``log|D_j|`` with their gamma-derivatives."""
        q = self.q1
        T = _lam(theta1, self.coords[0], q)
        A = self.A
        AL = np.zeros_like(A)
        for a in range(q):
            for c in range(q):
                acc = 0.0
                for b in range(q):
                    if T[b, c] != 0.0:
                        acc = acc + A[a, b] * T[b, c]
                AL[a, c] = acc
        D = np.empty_like(A)
        for c in range(q):
            for e in range(c, q):
                acc = 0.0
                for a in range(q):
                    if T[a, c] != 0.0:
                        acc = acc + T[a, c] * AL[a, e]
                D[c, e] = D[e, c] = acc + (1.0 if c == e else 0.0)
        C = _chol_small(D)
        H = np.empty_like(A)  # C^-1 T'
        for a in range(q):
            acc = np.broadcast_to(T[:, a][:, None], (q, self.J)).copy()  # row a of T' = column a of T
            for b in range(a):
                acc = acc - C[a, b] * H[b]
            H[a] = acc / C[a, a]
        P = np.empty_like(A)
        for x in range(q):
            for y_ in range(x, q):
                P[x, y_] = P[y_, x] = sum(H[a, x] * H[a, y_] for a in range(q))
        out: dict[str, Any] = {"P": P, "ld": 2.0 * float(sum(np.log(C[a, a]).sum() for a in range(q)))}
        if order == 0:
            return out
        K = np.empty_like(A)
        for x in range(q):
            for y_ in range(q):
                K[x, y_] = (1.0 if x == y_ else 0.0) - sum(P[x, z] * A[z, y_] for z in range(q))
        CA = np.empty_like(A)
        for x in range(q):
            for y_ in range(x, q):
                CA[x, y_] = CA[y_, x] = sum(A[x, z] * K[z, y_] for z in range(q))
        coords = self.coords[0]
        k1 = len(coords)
        Pg = []
        ldg = np.zeros(k1)
        for u, cu in enumerate(coords):
            pu = _pairs(cu)
            Pu = {}
            for (a, b) in self.iu:
                Pu[a, b] = sum(K[a, r] * K[b, c] for r, c in pu)
            Pg.append(Pu)
            ldg[u] = sum(float(CA[c, r].sum()) for r, c in pu)
        Ph = {}
        ldh = np.zeros((k1, k1))
        for u, cu in enumerate(coords):
            for v in range(u, k1):
                cv = coords[v]
                terms = []  # X = B_v C B_u = sum C[y1, z1] E_{x1, w1}
                for (x1, y1) in _pairs(cv):
                    for (z1, w1) in _pairs(cu):
                        terms.append((x1, w1, CA[y1, z1]))
                Puv = {}
                for (a, b) in self.iu:
                    acc = 0.0
                    for x1, w1, cval in terms:
                        acc = acc + cval * (K[a, x1] * K[b, w1] + K[a, w1] * K[b, x1])
                    Puv[a, b] = -acc
                Ph[u, v] = Puv
                val = 0.0
                for (x1, y1) in _pairs(cu):
                    for (z1, w1) in _pairs(cv):
                        val += float((CA[y1, z1] * CA[w1, x1]).sum())
                ldh[u, v] = ldh[v, u] = -val
        out.update(Pg=Pg, Ph=Ph, ldg=ldg, ldh=ldh)
        return out

    def _omega(self, sa: dict[str, Any], order: int) -> np.ndarray:
        """``Omega`` on the elimination keys, columns: value, then gamma_1 jets (first, then pairs)."""
        J, npk = self.J, self.npk
        k1 = self.k1
        cols = [sa["P"]]
        if order:
            cols += sa["Pg"]
            cols += [sa["Ph"][u, v] for u in range(k1) for v in range(u, k1)]
        m = len(cols)
        Pm = np.empty((J, npk, m))
        for t, (a, b) in enumerate(self.iu):
            for c, src in enumerate(cols):
                Pm[:, t, c] = src[a, b]
        out = -(self.LmapT.T @ Pm.reshape(J * npk, m))
        out[:, 0] += self.omega0
        return out

    def _rest_p(self, b: dict[str, Any], O: np.ndarray, theta_r: np.ndarray) -> tuple[np.ndarray, float]:
        """Stage B of one bucket: ``P_r = Lambda_r D_r^-1 Lambda_r'`` and ``log|D_r|``."""
        nc, s = b["nc"], b["s"]
        vals = theta_r[b["lam_t"] - self.k1]
        if b["diag"]:
            lam = np.zeros((nc, s))
            lam[b["lam_c"], b["lam_r"]] = vals
            Dm = O * lam[:, :, None] * lam[:, None, :]
        else:
            Lam = np.zeros((nc, s, s))
            Lam[b["lam_c"], b["lam_r"], b["lam_cc"]] = vals
            Dm = np.transpose(Lam, (0, 2, 1)) @ O @ Lam
        Dm = 0.5 * (Dm + np.transpose(Dm, (0, 2, 1))) + np.eye(s)
        if nc == 1:  # one block (crossed factors): LAPACK's Cholesky and its inverse
            cf = linalg.cho_factor(Dm[0], lower=True)
            ld = 2.0 * float(np.log(np.diag(cf[0])).sum())
            Dinv = linalg.cho_solve(cf, np.eye(s))[None]
        else:
            ld = 2.0 * float(np.log(np.diagonal(np.linalg.cholesky(Dm), axis1=1, axis2=2)).sum())
            Dinv = np.linalg.inv(Dm)
        if b["diag"]:
            Pr = lam[:, :, None] * Dinv * lam[:, None, :]
        else:
            Pr = Lam @ Dinv @ np.transpose(Lam, (0, 2, 1))
        return 0.5 * (Pr + np.transpose(Pr, (0, 2, 1))), ld

    def evaluate(self, theta: np.ndarray, order: int = 2) -> tuple:
        """``(psi, log|V/sigma^2|)`` at ``theta``; with ``order=2`` also their gradients and Hessians.

        Returns ``psi, psi_g, psi_h, ld, ld_g, ld_h`` (shapes ``(d, d)``,
        ``(k, d, d)``, ``(k, k, d, d)``, scalar, ``(k,)``, ``(k, k)``; the
        derivative arrays are ``None`` for ``order=0``). Psi is in the centred
        coordinates (:meth:`unshift`).
        """
        theta = np.asarray(theta, dtype=float)
        d, k, k1 = self.d, self.k, self.k1
        sa = self._stage_a(theta[:k1], order)
        om = self._omega(sa, order)
        # pair index of gamma_1 jets in om's columns
        pair_col = {}
        c = 1 + k1
        for u in range(k1):
            for v in range(u, k1):
                pair_col[u, v] = pair_col[v, u] = c
                c += 1
        m = om.shape[1]
        WW = np.zeros((m, d, d))
        iw, jw = self.ww_pos
        WW[:, iw, jw] = om[self.ww_idx].T
        WW[:, jw, iw] = om[self.ww_idx].T
        psi = WW[0].copy()
        ld = sa["ld"]
        if order:
            psi_g = np.zeros((k, d, d))
            psi_h = np.zeros((k, k, d, d))
            ld_g = np.zeros(k)
            ld_h = np.zeros((k, k))
            ld_g[:k1] = sa["ldg"]
            ld_h[:k1, :k1] = sa["ldh"]
            for u in range(k1):
                psi_g[u] = WW[1 + u]
                for v in range(k1):
                    psi_h[u, v] = WW[pair_col[u, v]]
        theta_r = theta[k1:]
        for b in self.buckets:
            nc, s = b["nc"], b["s"]
            Om = np.zeros((m, nc, s, s))
            Om[:, b["rr_c"], b["rr_u"], b["rr_v"]] = om[b["rr_idx"]].T
            Om[:, b["rr_c"], b["rr_v"], b["rr_u"]] = om[b["rr_idx"]].T
            R = np.zeros((m, nc, s, d))
            R[:, b["rw_c"], b["rw_u"], b["rw_w"]] = om[b["rw_idx"]].T
            O = Om[0]
            Pr, ldb = self._rest_p(b, O, theta_r)
            ld += ldb
            R0 = R[0]
            Y = Pr @ R0
            psi -= np.einsum("csd,cse->de", R0, Y)
            if not order:
                continue
            K = np.eye(s) - Pr @ O
            KT = np.transpose(K, (0, 2, 1))
            Cm = O @ K
            Cm = 0.5 * (Cm + np.transpose(Cm, (0, 2, 1)))
            Rk = KT @ R0
            Bst = b["B"]
            kr = Bst.shape[0]
            if b["diag"]:  # intercepts / single slopes: B_u is diagonal
                Bd = b["Bd"][..., None]
                G, BC = Bd * Rk, Bd * Cm
            else:
                G = Bst @ Rk  # (kr, nc, s, d)
                BC = Bst @ Cm
            for u in range(kr):
                gu = k1 + u
                ld_g[gu] += float(np.sum(Bst[u] * Cm))
                psi_g[gu] -= np.einsum("csd,cse->de", Rk, G[u])
                for v in range(u, kr):
                    gv = k1 + v
                    ld_h[gu, gv] -= float(np.sum(BC[u] * np.transpose(BC[v], (0, 2, 1))))
                    t = np.einsum("csd,cst,cte->de", G[v], Cm, G[u])
                    psi_h[gu, gv] += t + t.T
            if k1 == 0:
                continue
            Ya, OY, PO, Za, KOK = [], [], [], [], []
            for a in range(k1):
                Oa, Ra = Om[1 + a], R[1 + a]
                ld_g[a] += float(np.sum(Pr * Oa))
                oy = Oa @ Y
                t = np.einsum("csd,cse->de", Ra, Y)
                psi_g[a] -= t + t.T - np.einsum("csd,cse->de", Y, oy)
                Ya.append(Pr @ Ra)
                OY.append(oy)
                PO.append(Pr @ Oa)
                Za.append(KT @ (Ra - oy))
                KOK.append(KT @ Oa @ K)
            for a in range(k1):
                for u in range(kr):
                    gu = k1 + u
                    ld_h[a, gu] += float(np.sum(Bst[u] * KOK[a]))
                    t = np.einsum("csd,cse->de", Za[a], G[u])
                    psi_h[a, gu] -= t + t.T
                for bb in range(a, k1):
                    Oab, Rab = Om[pair_col[a, bb]], R[pair_col[a, bb]]
                    ld_h[a, bb] += float(np.sum(Pr * Oab)) - float(
                        np.sum(PO[bb] * np.transpose(PO[a], (0, 2, 1))))
                    Ra = R[1 + a]
                    # R_a'Y_b and R_b'Y_a are transposes of each other (P_r symmetric)
                    t1 = np.einsum("csd,cse->de", Rab, Y) + np.einsum("csd,cse->de", Ra, Ya[bb])
                    t2 = np.einsum("csd,cse->de", Ya[a], OY[bb]) + np.einsum("csd,cse->de", Ya[bb], OY[a])
                    t3 = np.einsum("csd,cst,cte->de", OY[bb], Pr, OY[a])
                    t4 = np.einsum("csd,cse->de", Y, Oab @ Y)
                    psi_h[a, bb] -= (t1 + t1.T) - (t2 + t2.T) + (t3 + t3.T) - t4
        if not order:
            return psi, None, None, ld, None, None
        iu = np.triu_indices(k, 1)
        ld_h[iu[1], iu[0]] = ld_h[iu]
        psi_h[iu[1], iu[0]] = psi_h[iu]
        # chain rule gamma -> theta, factor by factor
        Gj = np.zeros((k, k))
        Hg = np.zeros((k, k, k))
        st = 0
        for f, coords, kf in zip(self.factors, self.coords, self.k_f):
            L = _lam(theta[st:st + kf], coords, f.q)
            g, h = _gamma_chain(L, coords)
            Gj[st:st + kf, st:st + kf] = g
            Hg[st:st + kf, st:st + kf, st:st + kf] = h
            st += kf
        ld_t = Gj.T @ ld_g
        ld_tt = Gj.T @ ld_h @ Gj + np.einsum("u,uab->ab", ld_g, Hg)
        psi_t = np.einsum("ua,uij->aij", Gj, psi_g)
        psi_tt = np.einsum("ua,vb,uvij->abij", Gj, Gj, psi_h) + np.einsum("uab,uij->abij", Hg, psi_g)
        return psi, psi_t, psi_tt, ld, ld_t, ld_tt

    # ----------------------------------------------------------------- criteria
    def criterion(self, theta: np.ndarray, reml: bool) -> float:
        """lme4's profiled REML criterion (``reml``) or ML deviance at ``theta``."""
        try:
            psi, _, _, ld, _, _ = self.evaluate(theta, order=0)
            c = np.linalg.cholesky(psi)
        except np.linalg.LinAlgError:
            return np.inf
        p = self.p
        rss = c[p, p] ** 2
        if not (np.isfinite(rss) and rss > 0):
            return np.inf
        nu = self.n - p if reml else self.n
        f = nu * (1.0 + _LOG2PI + np.log(rss / nu)) + ld
        if reml:
            f += 2.0 * float(np.log(np.diag(c)[:p]).sum())
        return float(f)

    def _pieces(self, theta: np.ndarray) -> dict[str, Any]:
        p = self.p
        psi, psi_g, psi_h, ld, ld_g, ld_h = self.evaluate(theta, order=2)
        P = np.linalg.inv(psi)
        v = P[:, p]
        pyy = v[p]
        pa = -np.einsum("i,aij,j->a", v, psi_g, v)
        PA = psi_g @ v
        pab = -np.einsum("i,abij,j->ab", v, psi_h, v) + 2.0 * np.einsum("ai,ij,bj->ab", PA, P, PA)
        Ai = np.linalg.inv(psi[:p, :p])
        AiAa = Ai @ psi_g[:, :p, :p]
        return {
            "rss": 1.0 / pyy, "rss_a": -pa / pyy**2,
            "rss_ab": -pab / pyy**2 + 2.0 * np.outer(pa, pa) / pyy**3,
            "lr_a": -pa / pyy, "lr_ab": -pab / pyy + np.outer(pa, pa) / pyy**2,
            "ld": ld, "ld_a": ld_g, "ld_ab": ld_h,
            "logdetA": float(np.linalg.slogdet(psi[:p, :p])[1]),
            "la_a": np.einsum("aii->a", AiAa),
            "la_ab": np.einsum("ij,abji->ab", Ai, psi_h[:, :, :p, :p]) - np.einsum("aij,bji->ab", AiAa, AiAa),
            "Ai": Ai, "AiAa": AiAa,
        }

    def criterion_jet(self, theta: np.ndarray, reml: bool) -> tuple[float, np.ndarray, np.ndarray]:
        """:meth:`criterion` with its exact gradient and Hessian in ``theta``."""
        try:
            pc = self._pieces(theta)
        except np.linalg.LinAlgError:
            k = self.k
            return np.inf, np.full(k, np.nan), np.full((k, k), np.nan)
        rss = pc["rss"]
        if not (np.isfinite(rss) and rss > 0):
            k = self.k
            return np.inf, np.full(k, np.nan), np.full((k, k), np.nan)
        nu = self.n - self.p if reml else self.n
        f = nu * (1.0 + _LOG2PI + np.log(rss / nu)) + pc["ld"]
        g = nu * pc["lr_a"] + pc["ld_a"]
        H = nu * pc["lr_ab"] + pc["ld_ab"]
        if reml:
            f += pc["logdetA"]
            g = g + pc["la_a"]
            H = H + pc["la_ab"]
        return float(f), g, 0.5 * (H + H.T)

    def unshift(self) -> tuple[np.ndarray, np.ndarray]:
        """``(T, b)`` with ``beta = T beta_centred + b`` (identity when not centred)."""
        p = self.p
        T = np.eye(p)
        b = np.zeros(p)
        if self.shift is not None:
            c = self.const_col
            T[c, :] -= self.shift[:p] / self.const_value
            T[c, c] = 1.0
            b[c] = self.shift[p] / self.const_value
        return T, b

    def estimates(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, float, np.ndarray]:
        """``beta``, ``sigma^2`` (REML: ``n - p`` denominator) and ``Cov(beta)`` at ``theta``."""
        psi = self.evaluate(theta, order=0)[0]
        p = self.p
        A, bvec = psi[:p, :p], psi[:p, p]
        cf = linalg.cho_factor(A, lower=True)
        beta = linalg.cho_solve(cf, bvec)
        rss = float(psi[p, p] - bvec @ beta)
        sigma2 = rss / (self.n - p if reml else self.n)
        cov = sigma2 * linalg.cho_solve(cf, np.eye(p))
        T, b = self.unshift()
        return T @ beta + b, sigma2, T @ cov @ T.T

    def varpar_derivatives(self, theta: np.ndarray, sigma: float, reml: bool
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact Hessian of the deviance in ``(theta, sigma)``, ``Cov(beta)`` and its Jacobian.

        The deviance is lmerTest's ``devfun_vp``: ``log|V/sigma^2| + rss/sigma^2
        + n log(2 pi sigma^2)`` (REML: ``+ log|X'V^-1X sigma^2| - p log(2 pi
        sigma^2)``), ``rss`` at the generalised-least-squares ``beta(theta)``.
        Returns ``(H, cov_beta, J)``, ``J[:, :, k] = d Cov(beta) / d varpar_k``.
        """
        pc = self._pieces(theta)
        k, p = self.k, self.p
        s2 = sigma * sigma
        nu = self.n - p if reml else self.n
        h_tt = pc["ld_ab"] + pc["rss_ab"] / s2
        if reml:
            h_tt = h_tt + pc["la_ab"]
        H = np.empty((k + 1, k + 1))
        H[:k, :k] = 0.5 * (h_tt + h_tt.T)
        H[k, k] = 6.0 * pc["rss"] / s2**2 - 2.0 * nu / s2
        H[:k, k] = H[k, :k] = -2.0 * pc["rss_a"] / sigma**3
        Ai = pc["Ai"]
        cov = s2 * Ai
        Jm = np.empty((p, p, k + 1))
        for a in range(k):
            Jm[:, :, a] = -s2 * (pc["AiAa"][a] @ Ai)
        Jm[:, :, k] = 2.0 * sigma * Ai
        T, _ = self.unshift()
        return H, T @ cov @ T.T, np.einsum("ij,jkl,mk->iml", T, Jm, T)

    def column_scale(self, f: Factor) -> np.ndarray:
        """The unit of each template column of ``f`` inside the model (1 for the intercept)."""
        return np.array([1.0 if c == "Intercept" else self.z_scale.get(c, 1.0) for c in f.columns])

    # ----------------------------------------------------------------- optimiser
    def diag_mask(self) -> np.ndarray:
        return np.array([r == c for coords in self.coords for (r, c) in coords])

    def normalise(self, theta: np.ndarray) -> np.ndarray:
        """Flip template columns with a negative diagonal (the criterion is unchanged)."""
        theta = np.array(theta, dtype=float)
        st = 0
        for coords in self.coords:
            for col in {c for _, c in coords}:
                idx = [st + t for t, (r, c) in enumerate(coords) if c == col]
                diag = [st + t for t, (r, c) in enumerate(coords) if c == col and r == col][0]
                if theta[diag] < 0:
                    theta[idx] = -theta[idx]
            st += len(coords)
        return theta

    def start(self) -> np.ndarray:
        return np.where(self.diag_mask(), 0.5, 0.0)

    def _newton(self, x: np.ndarray, reml: bool, maxiter: int = 200) -> tuple[np.ndarray, float, bool]:
        fx, g, H = self.criterion_jet(x, reml)
        for _ in range(maxiter):
            if not (np.isfinite(fx) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
                return x, fx, False
            w, U = np.linalg.eigh(H)
            scale = max(1.0, float(np.max(np.abs(w))))
            w = np.maximum(np.abs(w), 1e-10 * scale)
            step = -(U @ ((U.T @ g) / w))
            dec = float(-g @ step)
            tol = max(1e-12, 1e-14 * abs(fx))
            if dec < tol:
                return x, fx, True
            # the full step with derivatives (usually accepted), then backtracking on values only
            xn = x + step
            fn, gn, Hn = self.criterion_jet(xn, reml)
            t = 1.0
            while not (fn <= fx - 1e-4 * t * dec):
                t *= 0.5
                if t < 1e-10:
                    return x, fx, dec < 1e3 * tol
                xn = x + t * step
                fn, gn = self.criterion(xn, reml), None
                if t < 1e-3 and fn <= fx:
                    break
            if gn is None:
                fn, gn, Hn = self.criterion_jet(xn, reml)
            x, fx, g, H = xn, fn, gn, Hn
        return x, fx, False

    def fit(self, reml: bool) -> tuple[np.ndarray, float, bool, dict[str, float]]:
        """Minimise the criterion: Newton with the exact Hessian; L-BFGS-B with the exact gradient backs it up.

        Returns ``theta`` (normalised), the criterion, convergence, and the
        criterion reached by each run.
        """
        runs: dict[str, float] = {}
        x, fx, conv = self._newton(self.start(), reml)
        runs["newton"] = float(fx)
        if not conv:
            diag = self.diag_mask()
            bounds = [(0.0, None) if dg else (None, None) for dg in diag]

            def fg(t: np.ndarray) -> tuple[float, np.ndarray]:
                f, g, _ = self.criterion_jet(t, reml)
                if not np.isfinite(f):
                    return 1e100, np.zeros_like(t)
                return f, g

            best = (x, fx)
            for i, s in enumerate((1.0, 0.1, 2.0)):
                res = optimize.minimize(fg, np.where(diag, s, 0.0), jac=True, method="L-BFGS-B", bounds=bounds,
                                        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
                runs[f"lbfgsb{i}"] = float(res.fun)
                if res.fun < best[1]:
                    best = (np.asarray(res.x, dtype=float), float(res.fun))
            x2, f2, conv2 = self._newton(best[0], reml)
            runs["polished"] = float(f2)
            if f2 <= best[1]:
                x, fx, conv = x2, f2, conv2
            else:
                x, fx = best
                conv = False
        x = self.normalise(x)
        fx = self.criterion(x, reml)
        # exact zeros on the boundary (a diagonal within 1e-4 of zero)
        diag_idx = np.flatnonzero(self.diag_mask())
        for t in diag_idx:
            if 0 < abs(x[t]) < SINGULAR_TOL:
                xz = x.copy()
                xz[t] = 0.0
                fz = self.criterion(xz, reml)
                if fz <= fx + 1e-10:
                    x, fx = xz, min(fz, fx)
        return x, float(fx), bool(conv and np.isfinite(fx)), runs

    # ----------------------------------------------------------------- BLUPs
    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray, sigma2: float
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per factor (internal order): BLUPs ``(G, q)`` and conditional covariances ``(G, q, q)``."""
        theta = np.asarray(theta, dtype=float)
        k1, d, q1, J = self.k1, self.d, self.q1, self.J
        T, b = self.unshift()
        beta_c = np.linalg.solve(T, np.asarray(beta, dtype=float) - b)
        w = np.r_[-beta_c, 1.0]
        sa = self._stage_a(theta[:k1], 0)
        P = sa["P"]
        om = self._omega(sa, 0)[:, 0]
        theta_r = theta[k1:]
        b_rest = np.zeros(self.Mr)
        Pr_full: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
        for bi, bk in enumerate(self.buckets):
            nc, s = bk["nc"], bk["s"]
            O = np.zeros((nc, s, s))
            O[bk["rr_c"], bk["rr_u"], bk["rr_v"]] = om[bk["rr_idx"]]
            O[bk["rr_c"], bk["rr_v"], bk["rr_u"]] = om[bk["rr_idx"]]
            R = np.zeros((nc, s, d))
            R[bk["rw_c"], bk["rw_u"], bk["rw_w"]] = om[bk["rw_idx"]]
            Pr, _ = self._rest_p(bk, O, theta_r)
            Pr_full[bi] = (Pr, bk)
            br = (Pr @ R) @ w  # (nc, s)
            lc = bk["local"][self.comp_of]
            m = lc >= 0
            b_rest[m] = br[lc[m], self.pos_of[m]]
        # factor 1
        rhs = np.einsum("awj,w->aj", self.ZW, w)  # (q1, J)
        if self.Mr:
            for a in range(q1):
                rhs[a] -= np.bincount(self.N_j, weights=self.N_val[:, a] * b_rest[self.N_col], minlength=J)
        b1 = np.einsum("abj,bj->ja", P, rhs)
        V1 = np.moveaxis(P, -1, 0).copy()  # (J, q1, q1)
        if self.Mr:
            # N_j P_r N_j' from the pairs of rest entries of each level
            pr = self._pr_lookup(Pr_full, self.rr_u, self.rr_v)
            Q = np.zeros((J, q1, q1))
            same = self.rr_u == self.rr_v
            for a in range(q1):
                for c in range(q1):
                    val = self.rr_v1[:, a] * self.rr_v2[:, c] * pr
                    val = val + np.where(same, 0.0, self.rr_v1[:, c] * self.rr_v2[:, a] * pr)
                    Q[:, a, c] = np.bincount(self.rr_j, weights=val, minlength=J)
            Pj = np.moveaxis(P, -1, 0)
            V1 = V1 + Pj @ Q @ Pj
        out = [(b1, sigma2 * V1)]
        for fi, f in enumerate(self.rest):
            base = self.rest_offset[fi] + np.arange(f.n_levels) * f.q
            blup = np.stack([b_rest[base + i] for i in range(f.q)], axis=1)
            cv = np.empty((f.n_levels, f.q, f.q))
            for i in range(f.q):
                for i2 in range(f.q):
                    cv[:, i, i2] = self._pr_lookup(Pr_full, base + i, base + i2)
            out.append((blup, sigma2 * cv))
        return out

    def _pr_lookup(self, Pr_full: dict[int, tuple[np.ndarray, dict[str, Any]]], u: np.ndarray,
                   v: np.ndarray) -> np.ndarray:
        """Entries ``P_r[u, v]`` for rest columns ``u``, ``v`` in the same component."""
        out = np.zeros(len(u))
        for Pr, bk in Pr_full.values():
            lu = bk["local"][self.comp_of[u]]
            m = lu >= 0
            out[m] = Pr[lu[m], self.pos_of[u[m]], self.pos_of[v[m]]]
        return out


# --------------------------------------------------------------------------- front end
def factors_from_terms(terms: Sequence[Any], codes: Mapping[str, np.ndarray],
                       sizes: Mapping[str, int]) -> list[Factor]:
    """Group the parsed random terms by grouping factor (formula order)."""
    by: dict[str, list[Any]] = {}
    for t in terms:
        by.setdefault(t.group, []).append(t)
    out = []
    for g, ts in by.items():
        cols: list[str] = []
        blocks = []
        for t in ts:
            tc_ = term_columns(t)
            blocks.append(tuple(range(len(cols), len(cols) + len(tc_))))
            cols.extend(tc_)
        out.append(Factor(g, tuple(cols), tuple(blocks), np.asarray(codes[g], dtype=np.intp), int(sizes[g])))
    return out


def fit_blocked(
    y: pd.Series,
    X: pd.DataFrame,
    terms: Sequence[Any],
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, pd.Index],
    frame: pd.DataFrame,
    *,
    reml: bool = True,
    engine: str = "nested-slopes",
    model: BlockedModel | None = None,
) -> tuple[BackendFit, BlockedModel]:
    """Fit any random-slopes or crossed model exactly (see the module notes).

    Returns the :class:`~teamculture.multilevel._lmm_common.BackendFit` and the
    model (reused by :meth:`MixedResult.refit`).
    R: ``lmerTest::lmer(y ~ x + (1 | trust) + (1 + x | team))``.
    """
    from teamculture.multilevel._satterthwaite import satterthwaite_from_derivatives

    reml = bool(reml)
    factors = factors_from_terms(terms, codes, {g: len(labels[g]) for g in codes})
    if model is None:
        cols = {c for f in factors for c in f.columns if c != "Intercept"}
        Zc = {c: covariate(c, X, frame) for c in cols}
        model = BlockedModel(X.to_numpy(dtype=float), y.to_numpy(dtype=float), factors, Zc, unit_covariates=True)
    theta, crit, converged, runs = model.fit(reml)
    beta, sigma2, _ = model.estimates(theta, reml)
    H, cov, Jm = model.varpar_derivatives(theta, float(np.sqrt(sigma2)), reml)
    df, _ = satterthwaite_from_derivatives(H, cov, Jm, sigma=float(np.sqrt(sigma2)))
    names = [str(c) for c in X.columns]
    modes = model.conditional_modes(theta, beta, sigma2)
    # per factor (internal order) -> theta slice, template
    st = 0
    per: dict[str, tuple[Factor, np.ndarray, tuple[np.ndarray, np.ndarray]]] = {}
    for f, kf, mode in zip(model.factors, model.k_f, modes):
        per[f.name] = (f, theta[st:st + kf], mode)
        st += kf
    vc: dict[str, float] = {}
    theta_vals: list[float] = []
    theta_names: list[str] = []
    ranef: dict[str, pd.DataFrame] = {}
    for g in dict.fromkeys(t.group for t in terms):
        f, th, (blup, cv) = per[g]
        # back to the caller's units: Z = Z_internal D, so Lambda = D^-1 Lambda_internal and b = D^-1 b_internal
        dsc = model.column_scale(f)
        th = th / np.array([dsc[r] for r, _ in f.coords])
        blup = blup / dsc
        cv = cv / np.outer(dsc, dsc)
        L = _lam(th, f.coords, f.q)
        cov_g = sigma2 * (L @ L.T)
        for blk in f.blocks:
            tn = [f.columns[i] for i in blk]
            vc.update(correlated_variances(g, tn, cov_g[np.ix_(blk, blk)]))
            labs = chol_labels(tn)
            loc = {(r, c): i for i, (r, c) in enumerate(f.coords)}
            idx = [loc[blk[b], blk[a]] for a in range(len(blk)) for b in range(a, len(blk))]
            theta_vals.extend(th[idx])
            theta_names.extend(f"{g}|{lab}:chol" for lab in labs)
        if list(f.columns) == ["Intercept"]:
            ranef[g] = pd.DataFrame({"blup": blup[:, 0], "cond_var": cv[:, 0, 0]}, index=labels[g])
        else:
            rcols = {f.columns[a]: blup[:, a] for a in range(f.q)}
            rcols.update({f"cond_var:{f.columns[a]}": cv[:, a, a] for a in range(f.q)})
            ranef[g] = pd.DataFrame(rcols, index=labels[g])
    vc["residual"] = sigma2
    notes = []
    singular = bool(np.any(np.abs(theta[model.diag_mask()]) < SINGULAR_TOL))
    if singular:
        zero = []
        for f, kf, st0 in zip(model.factors, model.k_f, np.cumsum([0] + model.k_f[:-1])):
            for t, (r, c) in enumerate(f.coords):
                if r == c and abs(theta[st0 + t]) < SINGULAR_TOL:
                    lone = any(len(b) == 1 and b[0] == r for b in f.blocks) and f.columns[r] == "Intercept"
                    zero.append(f.name if lone else f"{f.name}|{f.columns[r]}")
        notes.append(f"singular fit: the relative Cholesky diagonal of {', '.join(repr(z) for z in zero)} is "
                     "estimated at (or within 1e-4 of) zero: a variance at zero, or a correlation of +/-1")
    if not converged:
        notes.append("the optimiser did not confirm convergence (Newton with the exact Hessian, then "
                     "L-BFGS-B from three starts)")
    bf = BackendFit(
        **fixed_effects_table(beta, cov, df, names),
        variance_components=pd.Series(vc, dtype=float, name="variance"),
        theta=pd.Series(theta_vals, index=theta_names, name="theta", dtype=float),
        loglik=-0.5 * crit, deviance=crit, reml=reml, random_effects=ranef,
        n_params=len(names) + model.k + 1, singular=singular, converged=converged,
        optimizer=f"{engine}:newton", criteria=runs, notes=tuple(notes),
    )
    return bf, model
