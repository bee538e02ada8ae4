"""teamculture.mixed against lme4 on classic R data sets, read through R at test time.

The data sets (lme4 ``Pastes``; mlmRev ``Exam`` and ``egsingle``) are GPL
and not committed: R writes them and lme4's estimates to a temporary folder.
Skipped when Rscript (or a package) is absent. Tolerances as the issue
requires of the exact engine: REML criterion <= lme4's + 1e-6, variance
components and fixed effects rtol 1e-5.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import teamculture as tc

pytestmark = [pytest.mark.needs_r, pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not available")]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ","), "]")
fit <- function(name, d, f) {
  write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  m <- lmer(as.formula(f), data = d, REML = TRUE)
  vc <- as.data.frame(VarCorr(m))
  co <- summary(m)$coefficients
  sprintf('"%s": {"formula": "%s", "fixef": %s, "vc_names": [%s], "vc": %s, "remlcrit": %s, "df": %s, "se": %s}',
          name, f, num(fixef(m)), paste0('"', vc$grp, '"', collapse = ","), num(vc$vcov),
          sprintf("%.17g", REMLcrit(m)), num(co[, "df"]), num(co[, "Std. Error"]))
}
parts <- c(fit("pastes", lme4::Pastes[, c("strength", "batch", "cask")], "strength ~ 1 + (1 | batch/cask)"))
if (requireNamespace("mlmRev", quietly = TRUE)) {
  data("Exam", package = "mlmRev")
  data("egsingle", package = "mlmRev")
  parts <- c(parts,
    fit("exam", Exam[, c("normexam", "standLRT", "schavg", "school")], "normexam ~ standLRT + schavg + (1 | school)"),
    fit("egsingle", egsingle[, c("math", "year", "schoolid", "childid")], "math ~ year + (1 | schoolid/childid)"))
}
writeLines(paste0("{", paste(parts, collapse = ","), "}"), file.path(out, "fits.json"))
"""


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    out = tmp_path_factory.mktemp("classic_r")
    script = out / "classic.R"
    script.write_text(R_SCRIPT)
    proc = subprocess.run(["Rscript", str(script), str(out)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"R could not produce the classic fits: {proc.stderr[-500:]}")
    return out, json.loads((out / "fits.json").read_text())


def _check(name, classic, groups_map):
    out, fits = classic
    if name not in fits:
        pytest.skip(f"{name}: R package not installed")
    ref = fits[name]
    data = pd.read_csv(out / f"{name}.csv", dtype={c: str for c in groups_map})
    fit = tc.mixed(ref["formula"], data)
    assert fit.deviance <= ref["remlcrit"] + 1e-6
    assert_allclose(fit.fixed_effects.to_numpy(), ref["fixef"], rtol=1e-5)
    expected = pd.Series(ref["vc"], index=[groups_map.get(g, g) for g in ref["vc_names"]])
    got = fit.variance_components.rename({"residual": "Residual"})
    assert_allclose(got[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-5)
    assert_allclose(fit.coefficients["std_error"].to_numpy(), ref["se"], rtol=1e-5)
    assert_allclose(fit.coefficients["df"].to_numpy(), ref["df"], rtol=1e-4)
    return fit


def test_pastes_nested_with_reused_cask_labels(classic):
    fit = _check("pastes", classic, {"batch": "batch", "cask:batch": "batch:cask", "cask": "cask"})
    assert "reused" in fit.nesting


def test_exam_two_level_with_school_level_predictor(classic):
    _check("exam", classic, {"school": "school"})


def test_egsingle_three_level(classic):
    _check("egsingle", classic, {"schoolid": "schoolid", "childid:schoolid": "schoolid:childid",
                                 "childid": "childid"})
