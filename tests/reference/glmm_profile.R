# Reference values for GLMMResult.variance_intervals(method = "profile") from lme4's profile likelihood.
#
# Run from the repository root (the data come from tests/reference/make_glmm_data.py):
#     Rscript tests/reference/glmm_profile.R
# writes tests/reference/glmm_profile.json (machine-written; do not edit by hand).
#
# For each data set: the glmer fit (Laplace, or nAGQ = 25 for the single scalar term), the
# profile-likelihood limits of lme4's theta_ parameters on the SD/correlation scale
# (confint(fit, method = "profile", parm = "theta_")) at 95% and 80%, and the raw profile points
# (parameter value and signed root .zeta) that lme4 interpolates with a spline to get those limits.
# The profile points are exact evaluations of the profiled deviance (an optimiser per point), so
# they check the profile itself more tightly than the spline-interpolated limits do.
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
dd <- file.path(here, "glmm_data")

num <- function(x) paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", as.numeric(x))), collapse = ","), "]")
str <- function(x) paste0("[", paste0('"', x, '"', collapse = ","), "]")
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13,
                     optCtrl = list(maxfun = 1e5, rhoend = 1e-11))

prof_one <- function(name, f_r, fam, data, nAGQ = 1) {
  m <- glmer(as.formula(f_r), data = data, family = fam, control = ctrl, nAGQ = nAGQ)
  pr <- profile(m, which = "theta_", signames = FALSE)
  ci95 <- confint(pr, level = 0.95)
  ci80 <- confint(pr, level = 0.80)
  vc <- as.data.frame(VarCorr(m))
  est <- vc$sdcor
  pars <- rownames(ci95)
  pts <- sapply(pars, function(p) {
    r <- pr[pr$.par == p, ]
    sprintf('"%s": {"value": %s, "zeta": %s}', p, num(r[[p]]), num(r$.zeta))
  })
  parts <- c(
    sprintf('"formula": "%s"', f_r), sprintf('"family": "%s"', fam$family), sprintf('"nagq": %d', nAGQ),
    sprintf('"n_obs": %d', nobs(m)),
    sprintf('"parameters": %s', str(pars)),
    sprintf('"vc_grp": %s', str(vc$grp)),
    sprintf('"vc_var1": %s', str(ifelse(is.na(vc$var1), "", vc$var1))),
    sprintf('"vc_var2": %s', str(ifelse(is.na(vc$var2), "", vc$var2))),
    sprintf('"estimate": %s', num(est)),
    sprintf('"loglik": %s', sprintf("%.17g", as.numeric(logLik(m)))),
    sprintf('"ci95_low": %s', num(ci95[, 1])), sprintf('"ci95_high": %s', num(ci95[, 2])),
    sprintf('"ci80_low": %s', num(ci80[, 1])), sprintf('"ci80_high": %s', num(ci80[, 2])),
    sprintf('"points": {%s}', paste(pts, collapse = ","))
  )
  sprintf('"%s": {%s}', name, paste(parts, collapse = ", "))
}

rd <- function(f) read.csv(file.path(dd, f), stringsAsFactors = FALSE)
sets <- c(
  prof_one("three_level", "y ~ x + team_type + (1 | trust/team)", binomial(), rd("three_level.csv")),
  prof_one("slopes", "y ~ x + (1 + x | team)", binomial(), rd("slopes.csv")),
  prof_one("poisson", "absence ~ x + team_type + offset(log(days)) + (1 | trust/team)", poisson(),
           rd("poisson.csv")),
  prof_one("zero_trust", "y ~ x + team_type + (1 | trust/team)", binomial(), rd("zero_trust.csv")),
  prof_one("agq_single", "y ~ x + (1 | team)", binomial(), rd("agq_single.csv"), nAGQ = 25)
)
header <- sprintf('"_generated": "generated, do not edit; by tests/reference/glmm_profile.R with %s, lme4 %s on %s"',
                  R.version.string, packageVersion("lme4"), format(Sys.Date()))
writeLines(paste0("{", header, ",\n", paste(sets, collapse = ",\n"), "}"), file.path(here, "glmm_profile.json"))
