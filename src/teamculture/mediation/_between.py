"""Between-level paths from trust means corrected for their sampling error (private).

A trust mean of a staff-level variable is its latent trust value plus
sampling error (the trust's staff, and its teams, are a sample). Regressing on
observed means attenuates the between paths by about the reliability of the
means. Here the between-trust covariance matrix of the model variables is
corrected by the mean sampling covariance of the trust means (the method of
moments of Fuller 1987, ch. 2.2; the same idea as Croon & van Veldhoven
2007's adjusted means): linear equations are solved from the corrected
moments, and a count outcome is fitted to regression-calibrated predictors
(each trust's best linear predictor of its latent means, Carroll et al.
2006). Every function takes trust weights ``counts`` (1 for the data, a
resample's multiplicities for the bootstrap, 0 for the trust left out by the
jackknife).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teamculture.mediation._fit import Singular, fit_poisson, solve_spd

__all__ = ["TrustMoments", "trust_moments", "omega", "corrected_theta"]


@dataclass(frozen=True)
class TrustMoments:
    """Per-trust sufficient statistics of the staff-level variables (``p`` of them)."""

    n: np.ndarray            # (G,) staff per trust
    within_team: np.ndarray  # (G, p, p) cross-products of deviations from team means (= from trust means without teams)
    between_team: np.ndarray | None  # (G, p, p) sum_t n_t (m_t - m_k)(m_t - m_k)' (None without teams)
    n_teams: np.ndarray | None       # (G,) teams per trust
    sum_n2: np.ndarray | None        # (G,) sum over the trust's teams of n_t^2


def _cross(D: np.ndarray, codes: np.ndarray, G: int) -> np.ndarray:
    out = np.zeros((G, D.shape[1], D.shape[1]))
    np.add.at(out, codes, D[:, :, None] * D[:, None, :])
    return out


def trust_moments(Xs: np.ndarray, trust: np.ndarray, G: int, team: np.ndarray | None) -> TrustMoments:
    """Sufficient statistics from staff rows ``Xs`` (n, p), trust codes and (optional) team codes."""
    n = np.bincount(trust, minlength=G).astype(float)
    mk = np.stack([np.bincount(trust, weights=Xs[:, j], minlength=G) for j in range(Xs.shape[1])], axis=1) \
        / n[:, None]
    if team is None:
        return TrustMoments(n=n, within_team=_cross(Xs - mk[trust], trust, G), between_team=None, n_teams=None,
                            sum_n2=None)
    T = int(team.max()) + 1
    nt = np.bincount(team, minlength=T).astype(float)
    mt = np.stack([np.bincount(team, weights=Xs[:, j], minlength=T) for j in range(Xs.shape[1])], axis=1) \
        / np.where(nt > 0, nt, 1.0)[:, None]
    team_trust = np.zeros(T, dtype=np.intp)
    team_trust[team] = trust
    present = nt > 0
    d = (mt - mk[team_trust]) * np.sqrt(nt)[:, None]
    between = _cross(d[present], team_trust[present], G)
    return TrustMoments(n=n, within_team=_cross(Xs - mt[team], trust, G), between_team=between,
                        n_teams=np.bincount(team_trust[present], minlength=G).astype(float),
                        sum_n2=np.bincount(team_trust[present], weights=nt[present] ** 2, minlength=G))


def _psd(A: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((A + A.T) / 2.0)
    return (vecs * np.clip(vals, 0.0, None)) @ vecs.T


def omega(m: TrustMoments, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Pooled within-team and team covariance matrices and the per-trust sampling covariance weights.

    Returns ``(sigma_w, sigma_t or None, w_t)``: the sampling covariance of
    trust ``k``'s mean vector is ``sigma_w / n_k + sigma_t * sum_n2_k / n_k^2``
    (moment estimators of the nested model pooled over the trusts with
    positive ``counts``; ``sigma_t`` clipped to be positive semi-definite).
    """
    c = counts
    if m.between_team is None or float(c @ (m.n_teams - 1.0)) < 1.0:
        dof = float(c @ (m.n - 1.0))
        if dof < 1.0:
            raise Singular("no within-trust degrees of freedom")
        return np.tensordot(c, m.within_team, axes=1) / dof, None, np.zeros_like(m.n)
    dof_w = float(c @ (m.n - m.n_teams))
    dof_t = float(c @ (m.n_teams - 1.0))
    if dof_w < 1.0:
        raise Singular("no within-team degrees of freedom")
    sigma_w = np.tensordot(c, m.within_team, axes=1) / dof_w
    ms_t = np.tensordot(c, m.between_team, axes=1) / dof_t
    n0 = float(c @ (m.n - m.sum_n2 / m.n)) / dof_t
    sigma_t = _psd((ms_t - sigma_w) / n0)
    return sigma_w, sigma_t, m.sum_n2 / m.n**2


def corrected_theta(V: np.ndarray, error_cols: np.ndarray, m: TrustMoments, counts: np.ndarray,
                    equations: list[tuple[int, list[int], str]], offset: np.ndarray | None) -> np.ndarray:
    """Coefficients (intercept first, per equation, concatenated) from sampling-error-corrected moments.

    ``V`` (G, q): trust-level values of every model variable (trust means of
    staff-level ones); ``error_cols``: the positions in ``V`` of the
    staff-level variables, in the order of ``m``'s statistics; ``equations``:
    (response position, predictor positions, family).
    """
    c = counts.astype(float)
    used = c > 0
    sw = float(c.sum())
    if int(used.sum()) < 3:
        raise Singular("fewer than three trusts")
    mu = (c @ V) / sw
    R = V - mu
    S = (R * c[:, None]).T @ R / (sw - 1.0)
    sigma_w, sigma_t, w_t = omega(m, c)
    inv_n = 1.0 / m.n
    om_bar = sigma_w * float(c @ inv_n) / sw + (sigma_t * float(c @ w_t) / sw if sigma_t is not None else 0.0)
    S_star = S.copy()
    S_star[np.ix_(error_cols, error_cols)] -= om_bar
    out = []
    for response, preds, family in equations:
        P = np.asarray(preds)
        if family == "gaussian":
            beta, _ = solve_spd(S_star[np.ix_(P, P)], S_star[P, response])
            out.append(np.concatenate(([mu[response] - beta @ mu[P]], beta)))
            continue
        # count outcome: regression calibration of the error-prone predictors, then Poisson IRLS
        Spp = S_star[np.ix_(P, P)]
        err = np.isin(P, error_cols)
        pos = {int(col): i for i, col in enumerate(error_cols)}
        idx = np.array([pos[int(p)] for p in P[err]], dtype=np.intp)
        Xc = np.empty((V.shape[0], P.size))
        for k in range(V.shape[0]):
            if not used[k]:
                Xc[k] = V[k, P]
                continue
            Om = np.zeros((P.size, P.size))
            block = sigma_w * inv_n[k] + (sigma_t * w_t[k] if sigma_t is not None else 0.0)
            Om[np.ix_(np.flatnonzero(err), np.flatnonzero(err))] = block[np.ix_(idx, idx)]
            gain, _ = solve_spd(Spp + Om, (V[k, P] - mu[P]))
            Xc[k] = mu[P] + Spp @ gain
        X = np.column_stack([np.ones(V.shape[0]), Xc])
        fit = fit_poisson(X[used], V[used, response], offset[used], c[used], quasi=family == "quasipoisson",
                          cov=False)
        out.append(fit.beta)
    return np.concatenate(out)
