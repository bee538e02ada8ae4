# Tightly converged lme4 + lmerTest fits for teamculture's nested engine.
#
# lme4's default optimiser stops when the criterion changes by < 1e-8 or so,
# which leaves variance components accurate to only ~1e-5 relative. To test
# that the engine reaches the optimum to rtol 1e-5 we refit with very tight
# tolerances (nloptwrap/BOBYQA, xtol_abs 1e-14, ftol_abs 1e-15), on the data
# of make_mixed_data.py (part B's fixtures) and of make_engine_data.py.
#
# Run from the repository root:
#   python tests/reference/make_mixed_data.py
#   python tests/reference/make_engine_data.py
#   Rscript tests/reference/lme4_engine_extra.R
# Writes tests/reference/lme4_engine_extra.json (numbers with sprintf("%.17g")).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out_file <- file.path(here, "lme4_engine_extra.json")

num <- function(x) ifelse(is.na(x), "null", sprintf("%.17g", x))
q <- function(s) paste0("\"", gsub("\"", "\\\\\"", s), "\"")
jarr <- function(v) {
  if (is.character(v)) return(paste0("[", paste(q(v), collapse = ", "), "]"))
  if (is.logical(v)) return(paste0("[", paste(ifelse(v, "true", "false"), collapse = ", "), "]"))
  paste0("[", paste(num(as.numeric(v)), collapse = ", "), "]")
}
jobj <- function(...) {
  x <- list(...)
  paste0("{", paste(q(names(x)), unlist(x), sep = ": ", collapse = ", "), "}")
}
jmat <- function(m) paste0("[", paste(apply(m, 1, jarr), collapse = ", "), "]")

ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14,
                                   ftol_rel = 1e-15, maxeval = 1e5),
                    check.conv.singular = "ignore")

fit_json <- function(m) {
  fe <- fixef(m)
  vc <- as.data.frame(VarCorr(m))
  co <- summary(m, ddf = "Satterthwaite")$coefficients
  re <- ranef(m, condVar = TRUE)
  re_parts <- vapply(names(re), function(g) {
    r <- re[[g]]
    jobj(levels = jarr(rownames(r)), blup = jarr(r[["(Intercept)"]]),
         cond_var = jarr(as.numeric(attr(r, "postVar")[1, 1, ])))
  }, "")
  crit <- if (isREML(m)) REMLcrit(m) else deviance(m)
  jobj(
    criterion = num(crit),
    loglik = num(as.numeric(logLik(m))),
    fixef_names = jarr(names(fe)),
    fixef = jarr(unname(fe)),
    vcov = jmat(as.matrix(vcov(m))),
    vc_groups = jarr(vc$grp),
    vc = jarr(vc$vcov),
    theta_names = jarr(names(getME(m, "theta"))),
    theta = jarr(unname(getME(m, "theta"))),
    sigma2 = num(sigma(m)^2),
    nobs = num(nobs(m)),
    singular = if (isSingular(m, tol = 1e-4)) "true" else "false",
    df = jarr(unname(co[, "df"])),
    pvalue = jarr(unname(co[, "Pr(>|t|)"])),
    ranef = paste0("{", paste(q(names(re)), re_parts, sep = ": ", collapse = ", "), "}")
  )
}

read_csv_factors <- function(path, factors) {
  d <- read.csv(path, colClasses = setNames(rep("character", length(factors)), factors))
  for (v in factors) d[[v]] <- factor(d[[v]])
  d
}

mixed_dir <- file.path(here, "mixed_data")
engine_dir <- file.path(here, "engine_data")
models <- list(
  balanced2 = list(file.path(mixed_dir, "balanced2.csv"), c("team"), "y ~ x + (1 | team)"),
  balanced3 = list(file.path(mixed_dir, "balanced3.csv"), c("trust", "team"),
                   "y ~ x + (1 | trust) + (1 | team)"),
  unbalanced3 = list(file.path(mixed_dir, "unbalanced3.csv"), c("trust", "team", "cat"),
                     "y ~ x + cat + z + x:z + (1 | trust) + (1 | team)"),
  unbalanced3_noint = list(file.path(mixed_dir, "unbalanced3.csv"), c("trust", "team", "cat"),
                           "y ~ 0 + x + z + (1 | trust) + (1 | team)"),
  unbalanced3_null = list(file.path(mixed_dir, "unbalanced3.csv"), c("trust", "team", "cat"),
                          "y ~ 1 + (1 | trust) + (1 | team)"),
  reused3 = list(file.path(mixed_dir, "reused3.csv"), c("trust", "team", "cat"),
                 "y ~ x + cat + z + x:z + (1 | trust/team)"),
  singular3 = list(file.path(mixed_dir, "singular3.csv"), c("trust", "team"),
                   "y ~ x + (1 | trust) + (1 | team)"),
  slope3_ri = list(file.path(mixed_dir, "slope3.csv"), c("trust", "team"),
                   "y ~ x + (1 | trust) + (1 | team)"),
  depth3 = list(file.path(engine_dir, "depth3.csv"), c("region", "trust", "team", "grade"),
                "y ~ x * z + grade + (1 | region/trust/team)"),
  tiny_zero = list(file.path(engine_dir, "tiny_zero.csv"), c("trust", "team"),
                   "y ~ x + (1 | trust/team)"),
  big_mean = list(file.path(engine_dir, "big_mean.csv"), c("trust", "team"),
                  "y ~ x + (1 | trust) + (1 | team)")
)

parts <- character(0)
for (id in names(models)) {
  spec <- models[[id]]
  d <- read_csv_factors(spec[[1]], spec[[2]])
  f <- as.formula(spec[[3]])
  m_reml <- lmerTest::lmer(f, data = d, REML = TRUE, control = ctrl)
  m_ml <- lmerTest::lmer(f, data = d, REML = FALSE, control = ctrl)
  parts[id] <- jobj(data = q(basename(spec[[1]])), formula = q(spec[[3]]),
                    REML = fit_json(m_reml), ML = fit_json(m_ml))
}

header <- sprintf("generated by tests/reference/lme4_engine_extra.R with %s, lme4 %s, lmerTest %s, Matrix %s, nloptr %s on %s; generated, do not edit",
                  R.version.string, packageVersion("lme4"), packageVersion("lmerTest"),
                  packageVersion("Matrix"), packageVersion("nloptr"),
                  format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
json <- paste0("{", q("header"), ": ", q(header), ", ", q("models"), ": {",
               paste(q(names(parts)), parts, sep = ": ", collapse = ", "), "}}")
writeLines(json, out_file)
cat("wrote", out_file, "\n")
