# Reference values for teamculture.multilevel.glmm from lme4::glmer and glmmTMB.
#
# Run from the repository root (after python tests/reference/make_glmm_data.py):
#     Rscript tests/reference/glmm_lme4.R
# writes tests/reference/glmm_lme4.json (machine-written; do not edit by hand).
#
# glmer's reported Laplace log-likelihood is slightly low at default settings (its inner PIRLS
# loop stops at tolPwrss = 1e-7), so every fit uses tolPwrss = 1e-13 and bobyqa with a tight
# final trust radius; glmmTMB (Laplace by automatic differentiation) is recorded as a second,
# independent oracle. For each data set the JSON holds the estimates, standard errors,
# conditional modes, Nakagawa R2 / ICC from performance, and the Laplace log-likelihood of both
# packages at a fixed "probe" parameter vector (no optimiser involved).
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(performance)
})

args <- commandArgs(FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
dd <- file.path(here, "glmm_data")

num <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ","), "]")
one <- function(x) if (length(x) != 1 || is.na(x)) "null" else sprintf("%.17g", as.numeric(x))
str <- function(x) paste0("[", paste0('"', x, '"', collapse = ","), "]")
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13,
                     optCtrl = list(maxfun = 1e5, rhoend = 1e-11))

fit_one <- function(name, f_r, f_py, fam, data, probe_shift = 0.05, agq = FALSE, reduced = NULL) {
  form <- as.formula(f_r)
  m <- glmer(form, data = data, family = fam, control = ctrl)
  theta <- getME(m, "theta")
  beta <- fixef(m)
  dev <- glmer(form, data = data, family = fam, control = ctrl, devFunOnly = TRUE)
  probe_theta <- pmax(round(theta, 1) + probe_shift, 0)
  probe_beta <- round(beta, 2)
  probe_ll <- -dev(c(probe_theta, probe_beta)) / 2
  re <- as.data.frame(ranef(m, condVar = TRUE))
  ranef_json <- sapply(unique(as.character(re$grpvar)), function(g) {
    r <- re[re$grpvar == g, ]
    sprintf('"%s": {"levels": %s, "condval": %s, "condsd": %s}', g, str(as.character(r$grp)),
            num(r$condval), num(r$condsd))
  })
  parts <- c(
    sprintf('"formula_r": "%s"', f_r), sprintf('"formula_py": "%s"', f_py),
    sprintf('"family": "%s"', fam$family), sprintf('"link": "%s"', fam$link),
    sprintf('"n_obs": %d', nobs(m)),
    sprintf('"fixef_names": %s', str(names(beta))), sprintf('"fixef": %s', num(beta)),
    sprintf('"theta_names": %s', str(names(theta))), sprintf('"theta": %s', num(theta)),
    sprintf('"loglik": %s', one(logLik(m))), sprintf('"se": %s', num(sqrt(diag(as.matrix(vcov(m)))))),
    sprintf('"singular": %s', tolower(as.character(isSingular(m)))),
    sprintf('"probe_theta": %s', num(probe_theta)), sprintf('"probe_beta": %s', num(probe_beta)),
    sprintf('"probe_loglik": %s', one(probe_ll)),
    sprintf('"vc_var1": %s', str(ifelse(is.na(as.data.frame(VarCorr(m))$var1), "", as.data.frame(VarCorr(m))$var1))),
    sprintf('"vc_var2": %s', str(ifelse(is.na(as.data.frame(VarCorr(m))$var2), "", as.data.frame(VarCorr(m))$var2))),
    sprintf('"vc_grp": %s', str(as.data.frame(VarCorr(m))$grp)),
    sprintf('"vc": %s', num(as.data.frame(VarCorr(m))$vcov)),
    sprintf('"ranef": {%s}', paste(ranef_json, collapse = ","))
  )
  # glmmTMB: Laplace with the observed Hessian (equal to glmer's for the canonical links)
  tm <- tryCatch(glmmTMB(form, data = data, family = fam), error = function(e) NULL)
  if (!is.null(tm)) {
    nll <- tm$obj$fn(c(probe_beta, log(pmax(probe_theta, 1e-300))))
    parts <- c(parts, sprintf('"tmb_loglik": %s', one(logLik(tm))), sprintf('"tmb_fixef": %s', num(fixef(tm)$cond)),
               sprintf('"tmb_probe_loglik": %s', one(-nll)))
  }
  r2 <- tryCatch(r2_nakagawa(m), error = function(e) NULL)
  if (!is.null(r2)) {
    parts <- c(parts, sprintf('"r2_marginal": %s', one(r2$R2_marginal)),
               sprintf('"r2_conditional": %s', one(r2$R2_conditional)))
  }
  if (agq) {
    for (q in c(7, 15, 25)) {
      ma <- glmer(form, data = data, family = fam, nAGQ = q, control = ctrl)
      deva <- glmer(form, data = data, family = fam, nAGQ = q, control = ctrl, devFunOnly = TRUE)
      parts <- c(parts, sprintf('"agq%d": {"fixef": %s, "theta": %s, "loglik": %s, "se": %s, "probe_loglik": %s}', q,
                                num(fixef(ma)), num(getME(ma, "theta")), one(logLik(ma)),
                                num(sqrt(diag(as.matrix(vcov(ma))))), one(-deva(c(probe_theta, probe_beta)) / 2)))
    }
  }
  if (!is.null(reduced)) {
    lrt <- sapply(names(reduced), function(r) {
      m0 <- glmer(as.formula(reduced[[r]]), data = data, family = fam, control = ctrl)
      a <- anova(m0, m)
      sprintf('"%s": {"formula": "%s", "loglik": %s, "statistic": %s, "df": %s, "pvalue": %s}', r, reduced[[r]],
              one(logLik(m0)), one(a$Chisq[2]), one(a$Df[2]), one(a[["Pr(>Chisq)"]][2]))
    })
    parts <- c(parts, sprintf('"lrt": {%s}', paste(lrt, collapse = ",")))
  }
  sprintf('"%s": {%s}', name, paste(parts, collapse = ", "))
}

rd <- function(f) read.csv(file.path(dd, f), stringsAsFactors = FALSE)
sets <- c(
  fit_one("two_level", "y ~ x + team_type + (1 | team)", "y ~ x + team_type + (1 | team)", binomial(),
          rd("two_level.csv"), agq = TRUE),
  fit_one("three_level", "y ~ x + team_type + (1 | trust/team)", "y ~ x + team_type + (1 | trust/team)",
          binomial(), rd("three_level.csv"),
          reduced = list(no_x = "y ~ team_type + (1 | trust/team)", no_trust = "y ~ x + team_type + (1 | trust:team)")),
  fit_one("rare", "y ~ x + team_type + (1 | trust/team)", "y ~ x + team_type + (1 | trust/team)", binomial(),
          rd("rare.csv")),
  fit_one("zero_trust", "y ~ x + team_type + (1 | trust/team)", "y ~ x + team_type + (1 | trust/team)",
          binomial(), rd("zero_trust.csv"), probe_shift = 0),
  fit_one("probit", "y ~ x + team_type + (1 | trust/team)", "y ~ x + team_type + (1 | trust/team)",
          binomial(link = "probit"), rd("probit.csv")),
  fit_one("poisson", "absence ~ x + team_type + offset(log(days)) + (1 | trust/team)",
          "absence ~ x + team_type + offset(log(days)) + (1 | trust/team)", poisson(), rd("poisson.csv")),
  fit_one("trials", "cbind(k, n - k) ~ team_type + (1 | team)", "cbind(k, n - k) ~ team_type + (1 | team)",
          binomial(), rd("trials.csv")),
  fit_one("agq_single", "y ~ x + (1 | team)", "y ~ x + (1 | team)", binomial(), rd("agq_single.csv"), agq = TRUE),
  fit_one("agq_small", "y ~ x + (1 | trust/team)", "y ~ x + (1 | trust/team)", binomial(), rd("agq_small.csv")),
  fit_one("rare_flat", "y ~ x + real + (1 | trust/team)", "y ~ x + real + (1 | trust/team)", binomial(),
          rd("rare_flat.csv")),
  fit_one("slopes", "y ~ x + (1 + x | team)", "y ~ x + (1 + x | team)", binomial(), rd("slopes.csv"), probe_shift = 0)
)
header <- sprintf('"_generated": "generated, do not edit; by tests/reference/glmm_lme4.R with %s, lme4 %s, glmmTMB %s, performance %s on %s"',
                  R.version.string, packageVersion("lme4"), packageVersion("glmmTMB"),
                  packageVersion("performance"), format(Sys.Date()))
writeLines(paste0("{", header, ",\n", paste(sets, collapse = ",\n"), "}"), file.path(here, "glmm_lme4.json"))
