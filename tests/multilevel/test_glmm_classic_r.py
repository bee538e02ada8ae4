"""glmm() against lme4::glmer on classic R data sets, read through R at test time.

``lme4::cbpp`` (binomial counts out of herd sizes), ``mlmRev::Contraception`` (women in
districts) and ``lme4::grouseticks`` (Poisson; observation-level effects in broods in
locations) are GPL and not committed: R writes them and glmer's fits (``tolPwrss = 1e-13``,
bobyqa with ``rhoend = 1e-11``) to a temporary folder. Tolerances as in ``test_glmm_lme4``:
our maximised log-likelihood >= glmer's - 1e-6 and equal to 1e-8 relative; estimates
rtol/atol 2e-5 (Contraception's ``age^2`` coefficient is tiny: atol applies); standard
errors rtol 1e-4.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from teamculture.multilevel import glmm

pytestmark = [pytest.mark.needs_r, pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not available")]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
out <- commandArgs(trailingOnly = TRUE)[1]
num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ","), "]")
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5, rhoend = 1e-11))
fit <- function(name, d, f, fam) {
  write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  m <- suppressWarnings(glmer(as.formula(f), data = d, family = fam, control = ctrl))
  vc <- as.data.frame(VarCorr(m))
  sprintf('"%s": {"loglik": %s, "fixef": %s, "fixef_names": [%s], "sd_names": [%s], "sd": %s, "se": %s}',
          name, sprintf("%.17g", logLik(m)), num(fixef(m)), paste0('"', names(fixef(m)), '"', collapse = ","),
          paste0('"', vc$grp, '"', collapse = ","), num(vc$sdcor), num(sqrt(diag(as.matrix(vcov(m))))))
}
g <- grouseticks
g$cHEIGHT <- g$HEIGHT - mean(g$HEIGHT)
parts <- c(fit("cbpp", cbpp, "cbind(incidence, size - incidence) ~ period + (1 | herd)", binomial()),
           fit("grouseticks", g, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", poisson()))
if (requireNamespace("mlmRev", quietly = TRUE)) {
  data("Contraception", package = "mlmRev")
  parts <- c(parts, fit("contraception", Contraception,
                        "use ~ age + I(age^2) + urban + livch + (1 | district)", binomial()))
}
writeLines(paste0("{", paste(parts, collapse = ","), "}"), file.path(out, "fits.json"))
"""

CASES = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", {"herd": str, "period": str}),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson",
                    {"INDEX": str, "BROOD": str, "LOCATION": str, "YEAR": str}),
    "contraception": ("use_y ~ age + I(age**2) + urban + livch + (1 | district)", "binomial",
                      {"district": str, "livch": str, "urban": str, "woman": str, "use": str}),
}


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    out = tmp_path_factory.mktemp("glmm_classic_r")
    script = out / "classic.R"
    script.write_text(R_SCRIPT)
    proc = subprocess.run(["Rscript", str(script), str(out)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.skip(f"R could not produce the classic fits: {proc.stderr[-500:]}")
    return out, json.loads((out / "fits.json").read_text())


def _name(r: str) -> str:
    n = r.replace("(Intercept)", "Intercept").replace("I(age^2)", "I(age ** 2)")
    for var in ("period", "YEAR", "livch", "urban"):
        if n.startswith(var) and n != var:
            return f"{var}[T.{n[len(var):]}]"
    return n


@pytest.mark.parametrize("name", sorted(CASES))
def test_classic_data_set(name, classic):
    out, fits = classic
    if name not in fits:
        pytest.skip(f"{name}: R package not installed")
    ref = fits[name]
    formula, family, dtypes = CASES[name]
    d = pd.read_csv(out / f"{name}.csv", dtype=dtypes)
    if name == "contraception":
        d["use_y"] = (d["use"] == "Y").astype(int)  # glmer: the first factor level (N) is failure
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = glmm(formula, d, family=family)
    assert f.converged
    assert f.loglik >= ref["loglik"] - 1e-6
    assert_allclose(f.loglik, ref["loglik"], rtol=1e-8)
    names = [_name(n) for n in ref["fixef_names"]]
    assert_allclose(f.coefficients.loc[names, "estimate"].to_numpy(), ref["fixef"], rtol=2e-5, atol=2e-5)
    assert_allclose(f.coefficients.loc[names, "std_error"].to_numpy(), ref["se"], rtol=1e-4)
    sd = np.sqrt(f.variance_components[ref["sd_names"]].to_numpy())
    assert_allclose(sd, ref["sd"], rtol=2e-5, atol=2e-5)
