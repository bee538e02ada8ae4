# Tightly converged lme4 + lmerTest fits of correlated random slopes of teams
# nested in trusts, the oracle for teamculture's "nested-slopes" engine
# (src/teamculture/multilevel/_nested_slopes.py, tests/test_mixed_nested_slopes.py).
#
# lme4's default optimiser stops about 1e-5 (relative) short in the flat
# directions of these likelihoods (e.g. the ML trust variance of
# slope3_corr3 in lme4_reference.json), so every model is refitted here with
# bobyqa at rhoend = 1e-12 and then Nelder-Mead from that optimum at tight
# tolerances, keeping the lower criterion.
#
# Run from the repository root (data from tests/reference/make_mixed_data.py):
#   Rscript tests/reference/lme4_nested_slopes.R
# Writes tests/reference/lme4_nested_slopes.json, numbers with sprintf("%.17g").
#
# Layout: header, versions, models.<id>: dataset, formula, and REML / ML fits
# with fixef_names, fixef, vcov, varcorr (as.data.frame(VarCorr): grp, var1,
# var2, vcov, sdcor), sigma2, loglik, crit (REML criterion for REML fits,
# deviance for ML fits), theta, singular, ranef.<grp>: levels, terms,
# values.<term>, condvar (per level, the conditional covariance matrix of
# the terms, row-major), satterthwaite df (lmerTest).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "mixed_data")
out_file <- file.path(here, "lme4_nested_slopes.json")

num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
str_json <- function(s) paste0("\"", gsub("\"", "\\\\\"", s), "\"")
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
  v <- if (is.logical(x)) ifelse(x, "true", "false")
       else if (is.numeric(x)) num(as.numeric(x)) else str_json(as.character(x))
  if (length(x) == 1 && is.null(attr(x, "array"))) return(v)
  paste0("[", paste(v, collapse = ", "), "]")
}
arr <- function(x) { attr(x, "array") <- TRUE; x }

tight_fit <- function(f, d, reml) {
  ctl_b <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6),
                       check.conv.grad = "ignore", check.conv.singular = "ignore")
  m1 <- suppressMessages(suppressWarnings(lmerTest::lmer(as.formula(f), data = d, REML = reml, control = ctl_b)))
  ctl_n <- lmerControl(optimizer = "Nelder_Mead",
                       optCtrl = list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-12, maxfun = 1e6),
                       check.conv.grad = "ignore", check.conv.singular = "ignore")
  m2 <- suppressMessages(suppressWarnings(lmerTest::lmer(as.formula(f), data = d, REML = reml, control = ctl_n,
                                                        start = list(theta = getME(m1, "theta")))))
  if (deviance(m2, REML = reml) < deviance(m1, REML = reml)) m2 else m1
}

fit_info <- function(m) {
  fe <- fixef(m)
  vc <- as.data.frame(VarCorr(m))
  vc_list <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  re <- ranef(m, condVar = TRUE)
  re_list <- list()
  for (g in names(re)) {
    r <- re[[g]]
    pv <- attr(r, "postVar")
    values <- list()
    for (t in colnames(r)) values[[t]] <- arr(unname(r[[t]]))
    re_list[[g]] <- list(levels = arr(rownames(r)), terms = arr(colnames(r)), values = values,
                         condvar = lapply(seq_len(dim(pv)[3]), function(j) arr(as.numeric(t(pv[, , j])))))
  }
  co <- summary(m, ddf = "Satterthwaite")$coefficients
  reml <- isREML(m)
  list(reml = reml, fixef_names = arr(names(fe)), fixef = arr(unname(fe)),
       vcov = lapply(seq_along(fe), function(i) arr(unname(as.numeric(as.matrix(vcov(m))[i, ])))),
       varcorr = vc_list, sigma2 = sigma(m)^2, loglik = as.numeric(logLik(m)),
       crit = if (reml) REMLcrit(m) else deviance(m),
       theta = arr(unname(getME(m, "theta"))), singular = isSingular(m, tol = 1e-4),
       nobs = nobs(m), ngrps = as.list(ngrps(m)), ranef = re_list,
       satterthwaite_df = arr(unname(co[, "df"])))
}

models <- list(
  slope3_corr3 = list("slope3", "y ~ x + (1 | trust) + (1 + x | team)"),
  slope3_corr3_colon = list("slope3", "y ~ x + (1 | trust) + (1 + x | trust:team)"),
  slope3_both = list("slope3", "y ~ x + (1 + x | trust) + (1 + x | team)"),
  reused3_corr = list("reused3", "y ~ x + cat + z + (1 | trust) + (1 + x | trust:team)"),
  singular3_corr = list("singular3", "y ~ x + (1 | trust) + (1 + x | team)")
)
out_models <- list()
for (id in names(models)) {
  ds <- models[[id]][[1]]
  f <- models[[id]][[2]]
  d <- read.csv(file.path(data_dir, paste0(ds, ".csv")),
                colClasses = c(trust = "character", team = "character"))
  for (v in intersect(c("trust", "team", "cat"), names(d))) d[[v]] <- factor(d[[v]])
  out_models[[id]] <- list(dataset = ds, formula = f,
                           REML = fit_info(tight_fit(f, d, TRUE)), ML = fit_info(tight_fit(f, d, FALSE)))
}
versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")))
header <- sprintf("generated by tests/reference/lme4_nested_slopes.R with %s, lme4 %s, lmerTest %s on %s; generated, do not edit",
                  versions$R, versions$lme4, versions$lmerTest, format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
writeLines(to_json(list(header = header, versions = versions, models = out_models)), out_file)
cat("wrote", out_file, "\n")
