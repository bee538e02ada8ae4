# Reference values for what researchers report (teamculture issue 10): AIC/BIC
# of mixed and outcome models, lme4's VarCorr table, profile-likelihood and
# parametric-bootstrap intervals of variance components, the ICC(1) F test and
# its analytic interval, and exact (interpolated) Poisson/binomial funnel limits.
#
# Run from the repository root:
#   Rscript tests/reference/reporting.R
# Reads the committed CSVs of tests/reference/{mixed_data,outcomes_data,
# agreement_data} (and frontier_data/crossed2.csv: crossed team x occupation
# factors); writes tests/reference/reporting.json (generated, do not
# edit). Numbers are written with sprintf("%.17g") (full double precision).
#
# Layout of the JSON:
#   header, versions
#   mixed.<id>: dataset, formula, and reml / ml: loglik, loglik_df, aic, bic,
#     nobs, criterion (REMLcrit or deviance), varcorr (rows of
#     as.data.frame(VarCorr): grp, var1, var2, vcov, sdcor), fitted and
#     residuals (conditional: fitted(fit), residuals(fit)),
#     profile_ci_95 / profile_ci_90 (confint(fit, parm = "theta_", method =
#     "profile", oldNames = FALSE): names, lower, upper; lme4 profiles the ML
#     deviance, refitting a REML fit by ML), profile (the trace of
#     profile(fit, which = "theta_"): par (the profiled parameter), focal,
#     zeta), ml_sdcor (the sd/cor parameters of the ML refit, the centre of
#     the profile, and its deviance);
#     boot (REML fit of unbalanced3_nested only): nsim, seed, names, draws (one
#     array per parameter: bootMer(fit, sdcor, type = "parametric", use.u =
#     FALSE)), ci_95 (percentile intervals of confint(method = "boot",
#     boot.type = "perc") with the same seed).
#   outcomes.<id>: aic, bic, loglik, loglik_df, nobs (R's AIC()/BIC() of glm,
#     MASS::glm.nb, lm; NA for quasipoisson).
#   icc.<id>: F, df1, df2, p (summary(aov(y ~ factor(grp)))), and for the
#     balanced wide layout psych::ICC's "ICC1" row: icc, F, df1, df2, p,
#     lower, upper (level 0.95).
#   funnel: poisson (E grid; for each p: r = qpois(p, E), F(r), F(r - 1) and
#     the interpolated limit (r - a)/E, a = (F(r) - p)/(F(r) - F(r - 1)),
#     Spiegelhalter 2005 appendix A.1), binomial (n grid, theta0, the same with
#     qbinom/pbinom, limit (r - a)/n), poisson_test (for each E: the smallest and
#     largest count O whose two-sided poisson.test(O, E, r = 1) p-value is >= 0.05
#     or >= 0.002).
suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(psych)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out_file <- file.path(here, "reporting.json")

# ---- minimal JSON writer with full precision --------------------------------
num <- function(x) {
  ifelse(is.na(x), "null",
         ifelse(is.infinite(x), ifelse(x > 0, "\"Infinity\"", "\"-Infinity\""), sprintf("%.17g", x)))
}
str_json <- function(s) paste0("\"", gsub("\"", "\\\\\"", gsub("\\\\", "\\\\\\\\", s)), "\"")
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (!is.null(nm) && all(nm != "")) {
      parts <- vapply(seq_along(x), function(i) paste0(str_json(nm[i]), ": ", to_json(x[[i]])), "")
      return(paste0("{", paste(parts, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  v <- if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
       else if (is.numeric(x)) num(as.numeric(x)) else ifelse(is.na(x), "null", str_json(as.character(x)))
  if (length(x) == 1 && is.null(attr(x, "array"))) return(v)
  paste0("[", paste(v, collapse = ", "), "]")
}
arr <- function(x) { attr(x, "array") <- TRUE; x }

# ---- mixed models ------------------------------------------------------------
read_mixed <- function(name) {
  if (grepl("/", name)) {  # a data set of another oracle, e.g. "frontier_data/crossed2" (crossed factors)
    d <- read.csv(file.path(here, paste0(name, ".csv")), colClasses = "character")
    for (v in names(d)) d[[v]] <- if (v %in% c("trust", "team", "occ", "year")) factor(d[[v]]) else as.numeric(d[[v]])
    return(d)
  }
  d <- read.csv(file.path(here, "mixed_data", paste0(name, ".csv")),
                colClasses = c(trust = "character", team = "character"))
  d$trust <- factor(d$trust)
  d$team <- factor(d$team)
  d
}
# global, so that the refits of profile() and bootMer() find them
ctl_b <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                     check.conv.grad = "ignore", check.conv.singular = "ignore")
ctl_n <- lmerControl(optimizer = "Nelder_Mead",
                     optCtrl = list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-12, maxfun = 1e6),
                     check.conv.grad = "ignore", check.conv.singular = "ignore")
tight_fit <- function(f, d, reml) {
  m1 <- suppressMessages(suppressWarnings(lmer(as.formula(f), data = d, REML = reml, control = ctl_b)))
  m2 <- suppressMessages(suppressWarnings(lmer(as.formula(f), data = d, REML = reml, control = ctl_n,
                                              start = list(theta = getME(m1, "theta")))))
  if (deviance(m2, REML = reml) < deviance(m1, REML = reml)) m2 else m1
}
varcorr_rows <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}
profile_ci <- function(m, level) {
  ci <- suppressMessages(suppressWarnings(confint(m, parm = "theta_", method = "profile", level = level,
                                                  oldNames = FALSE)))
  list(names = arr(rownames(ci)), lower = arr(unname(ci[, 1])), upper = arr(unname(ci[, 2])))
}
profile_trace <- function(m) {
  pr <- suppressMessages(suppressWarnings(profile(m, which = "theta_", signames = FALSE)))
  df <- as.data.frame(pr)
  list(par = arr(as.character(df$.par)), focal = arr(df$.focal), zeta = arr(df$.zeta))
}
fit_info <- function(m, profile = TRUE) {
  ll <- logLik(m)
  out <- list(reml = isREML(m), loglik = as.numeric(ll), loglik_df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
              nobs = nobs(m), criterion = if (isREML(m)) unname(REMLcrit(m)) else deviance(m),
              varcorr = varcorr_rows(m), fitted = arr(unname(fitted(m))), residuals = arr(unname(residuals(m))))
  if (profile) {
    out$profile_ci_95 <- profile_ci(m, 0.95)
    out$profile_ci_90 <- profile_ci(m, 0.90)
    out$profile <- profile_trace(m)
    mml <- if (isREML(m)) refitML(m) else m
    out$ml_sdcor <- arr(unname(as.data.frame(VarCorr(mml))$sdcor))
    out$ml_deviance <- deviance(mml)
  }
  out
}

mixed_models <- list(
  unbalanced3_nested = list("unbalanced3", "y ~ x + (1 | trust/team)"),
  singular3_ri = list("singular3", "y ~ x + (1 | trust) + (1 | team)"),
  slope3_corr3 = list("slope3", "y ~ x + (1 | trust) + (1 + x | team)"),
  slope3_uncorr3 = list("slope3", "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)"),
  crossed2_ri = list("frontier_data/crossed2", "y ~ x + (1 | team) + (1 | occ)")
)
mixed <- list()
fits <- list()
for (id in names(mixed_models)) {
  ds <- mixed_models[[id]][[1]]
  f <- mixed_models[[id]][[2]]
  d <- read_mixed(ds)
  m_reml <- tight_fit(f, d, TRUE)
  m_ml <- tight_fit(f, d, FALSE)
  fits[[id]] <- m_reml
  mixed[[id]] <- list(dataset = ds, formula = f, reml = fit_info(m_reml), ml = fit_info(m_ml))
}

# parametric bootstrap of the nested model (REML refits, as bootMer does)
sdcor <- function(f) as.data.frame(VarCorr(f))$sdcor
m <- fits$unbalanced3_nested
d <- read_mixed("unbalanced3")  # a refit may evaluate the call's `data`: make it this model's data
nsim <- 1000L
seed <- 20240611L
b <- suppressMessages(suppressWarnings(bootMer(m, sdcor, nsim = nsim, seed = seed, type = "parametric",
                                               use.u = FALSE)))
vc <- as.data.frame(VarCorr(m))
boot_names <- ifelse(is.na(vc$var1), "sigma", paste0("sd_", vc$var1, "|", vc$grp))
ci_boot <- suppressMessages(suppressWarnings(confint(m, parm = "theta_", method = "boot", nsim = nsim,
                                                     boot.type = "perc", oldNames = FALSE,
                                                     seed = seed)))
mixed$unbalanced3_nested$reml$boot <- list(
  nsim = nsim, seed = seed, names = arr(boot_names),
  draws = lapply(seq_len(ncol(b$t)), function(j) arr(unname(b$t[, j]))),
  ci_95 = list(names = arr(rownames(ci_boot)), lower = arr(unname(ci_boot[, 1])),
               upper = arr(unname(ci_boot[, 2]))))

# ---- outcome models: AIC and BIC ---------------------------------------------
trusts <- read.csv(file.path(here, "outcomes_data", "trusts.csv"), stringsAsFactors = FALSE)
ctl <- glm.control(epsilon = 1e-14, maxit = 200)
ic <- function(fit) {
  ll <- logLik(fit)
  list(aic = AIC(fit), bic = BIC(fit), loglik = as.numeric(ll), loglik_df = attr(ll, "df"), nobs = nobs(fit))
}
f <- observed_deaths ~ real_team_pct + absence_rate
outcomes <- list()
outcomes$poisson <- ic(glm(f, family = poisson, offset = log(expected_deaths), data = trusts, control = ctl))
qp <- glm(f, family = quasipoisson, offset = log(expected_deaths), data = trusts, control = ctl)
outcomes$quasipoisson <- list(aic = AIC(qp), nobs = nobs(qp))
outcomes$negbin <- ic(glm.nb(observed_deaths ~ real_team_pct + absence_rate + offset(log(expected_deaths)),
                             data = trusts, control = glm.control(epsilon = 1e-12, maxit = 1000)))
trusts$smr100 <- 100 * trusts$observed_deaths / trusts$expected_deaths
outcomes$ols <- ic(lm(smr100 ~ real_team_pct + absence_rate, data = trusts))
outcomes$wls <- ic(lm(smr100 ~ real_team_pct + absence_rate, data = trusts, weights = expected_deaths))

# ---- ICC(1): the F test of the one-way ANOVA and psych::ICC's ICC1 row ----------
items <- read.csv(file.path(here, "agreement_data", "items.csv"), stringsAsFactors = FALSE)
aov_f <- function(y, g) {
  s <- summary(aov(y ~ factor(g)))[[1]]
  list(F = s[1, "F value"], df1 = s[1, "Df"], df2 = s[2, "Df"], p = s[1, "Pr(>F)"],
       msb = s[1, "Mean Sq"], msw = s[2, "Mean Sq"])
}
icc <- list()
icc$items_y <- aov_f(items$y, items$grp)
icc$items_i1 <- aov_f(items$i1, items$grp)
three <- read.csv(file.path(here, "agreement_data", "three_balanced.csv"), stringsAsFactors = FALSE)
three$unit <- paste(three$trust, three$team, sep = "-")
icc$three_balanced <- aov_f(three$y, three$unit)
# balanced: teams as rows ("subjects"), members as columns ("judges"), as psych::ICC expects
three$member <- ave(seq_len(nrow(three)), three$unit, FUN = seq_along)
wide <- reshape(three[, c("unit", "member", "y")], idvar = "unit", timevar = "member", direction = "wide")
units <- wide$unit
wide <- as.matrix(wide[, -1])
ps <- suppressMessages(suppressWarnings(psych::ICC(wide, alpha = 0.05, lmer = FALSE)))
row <- ps$results["Single_raters_absolute", ]
icc$three_balanced$psych_icc1 <- list(icc = row$ICC, F = row$F, df1 = row$df1, df2 = row$df2, p = row$p,
                                      lower = row[["lower bound"]], upper = row[["upper bound"]],
                                      n_members = ncol(wide), n_units = nrow(wide))
ps90 <- suppressMessages(suppressWarnings(psych::ICC(wide, alpha = 0.10, lmer = FALSE)))
row90 <- ps90$results["Single_raters_absolute", ]
icc$three_balanced$psych_icc1_90 <- list(lower = row90[["lower bound"]], upper = row90[["upper bound"]])
# ICC(2) = average-measures ICC(1,k): psych's "Average_raters_absolute" row
rowk <- ps$results["Average_raters_absolute", ]
icc$three_balanced$psych_icc1k <- list(icc = rowk$ICC, lower = rowk[["lower bound"]],
                                       upper = rowk[["upper bound"]])

# ---- funnel limits -------------------------------------------------------------
ps_ <- c(0.001, 0.025, 0.975, 0.999)
interp <- function(p, q, cdf, size) {
  r <- q(p)
  fr <- cdf(r)
  fr1 <- cdf(r - 1)
  a <- (fr - p) / (fr - fr1)
  list(p = p, r = arr(r), F_r = arr(fr), F_r1 = arr(fr1), limit = arr((r - a) / size))
}
E <- c(0.5, 1, 2, 3, 5, 7.5, 10, 20, 50, 100, 250, 1000, 2500.5, 10000)
pois <- lapply(ps_, function(p) interp(p, function(pp) qpois(pp, E), function(r) ppois(r, E), E))
n_bin <- c(5, 10, 20, 50, 100, 500, 2000)
theta0 <- 0.12
bin <- lapply(ps_, function(p) interp(p, function(pp) qbinom(pp, n_bin, theta0),
                                      function(r) pbinom(r, n_bin, theta0), n_bin))
accept <- function(e, level) {
  o <- 0:max(50, ceiling(e + 12 * sqrt(e) + 20))
  pv <- vapply(o, function(k) poisson.test(k, e, r = 1)$p.value, 0)
  ok <- o[pv >= 1 - level]
  c(min(ok), max(ok))
}
ptest <- list(E = arr(E),
              lower_95 = arr(vapply(E, function(e) accept(e, 0.95)[1], 0)),
              upper_95 = arr(vapply(E, function(e) accept(e, 0.95)[2], 0)),
              lower_998 = arr(vapply(E, function(e) accept(e, 0.998)[1], 0)),
              upper_998 = arr(vapply(E, function(e) accept(e, 0.998)[2], 0)))
funnel <- list(poisson = list(E = arr(E), limits = pois),
               binomial = list(n = arr(n_bin), theta0 = theta0, limits = bin),
               poisson_test = ptest)

out <- list(
  header = paste("generated by tests/reference/reporting.R, do not edit;", format(Sys.time(), "%Y-%m-%d")),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  MASS = as.character(packageVersion("MASS")), psych = as.character(packageVersion("psych")),
                  Matrix = as.character(packageVersion("Matrix"))),
  mixed = mixed, outcomes = outcomes, icc = icc, funnel = funnel)
writeLines(to_json(out), out_file)
cat("wrote", out_file, "\n")
