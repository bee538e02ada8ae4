# Tightly converged lme4 + lmerTest (+ performance) fits of uncorrelated random
# slopes and crossed random factors: the oracle for teamculture's
# block-elimination engine (src/teamculture/multilevel/_blocked.py,
# tests/multilevel/test_mixed_frontier.py).
#
# Every model is fitted as lme4_nested_slopes.R does (bobyqa with rhoend 1e-12,
# then Nelder-Mead from that optimum at tight tolerances, the lower criterion
# kept), by REML and ML, with lmerTest's Satterthwaite df. Intercept-only models
# also get performance::r2_nakagawa; a few anova() comparisons are recorded.
# lme4::Penicillin (GPL data, never committed) is fitted here too: only its
# numbers are written; the tests read the data through R at run time.
#
# Run from the repository root (data from tests/reference/make_frontier_data.py
# and make_mixed_data.py):
#   Rscript tests/reference/lme4_frontier.R
# Writes tests/reference/lme4_frontier.json, numbers with sprintf("%.17g").
#
# Layout: header, versions, models.<id>: dataset, formula, REML / ML fits with
# fixef_names, fixef, vcov, varcorr (as.data.frame(VarCorr): grp, var1, var2,
# vcov, sdcor), sigma2, loglik, crit (REML criterion or deviance), theta,
# singular, nobs, ngrps, ranef.<grp> (levels, terms, values.<term>, condvar: the
# per-level conditional covariance of the group's terms, row-major; for a
# factor in several uncorrelated terms lme4 lists it as <grp>, <grp>.1, ...),
# satterthwaite_df, r2_nakagawa (conditional, marginal; null for slope models);
# comparisons[]: full, reduced, refit, chisq, df, pvalue (plain chi^2), loglik.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(performance)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out_file <- file.path(here, "lme4_frontier.json")

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

fit_info <- function(m, r2) {
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
    if (is.list(pv)) {  # a factor in several (uncorrelated) terms: one array per term -> block diagonal
      q <- sum(vapply(pv, function(a) dim(a)[1], 1L))
      nl <- dim(pv[[1]])[3]
      full <- array(0, c(q, q, nl))
      at <- 0
      for (a in pv) {
        k <- dim(a)[1]
        full[at + seq_len(k), at + seq_len(k), ] <- a
        at <- at + k
      }
      pv <- full
    }
    re_list[[g]] <- list(levels = arr(rownames(r)), terms = arr(colnames(r)), values = values,
                         condvar = lapply(seq_len(dim(pv)[3]), function(j) arr(as.numeric(t(pv[, , j])))))
  }
  co <- summary(m, ddf = "Satterthwaite")$coefficients
  reml <- isREML(m)
  r2v <- NULL
  if (r2) {
    r <- suppressWarnings(performance::r2_nakagawa(m))
    r2v <- list(conditional = unname(r$R2_conditional), marginal = unname(r$R2_marginal))
  }
  list(reml = reml, fixef_names = arr(names(fe)), fixef = arr(unname(fe)),
       vcov = lapply(seq_along(fe), function(i) arr(unname(as.numeric(as.matrix(vcov(m))[i, ])))),
       varcorr = vc_list, sigma2 = sigma(m)^2, loglik = as.numeric(logLik(m)),
       crit = if (reml) REMLcrit(m) else deviance(m),
       theta = arr(unname(getME(m, "theta"))), singular = isSingular(m, tol = 1e-4),
       nobs = nobs(m), ngrps = as.list(ngrps(m)), ranef = re_list,
       satterthwaite_df = arr(unname(co[, "df"])), r2_nakagawa = r2v)
}

read_data <- function(ds) {
  if (ds == "Penicillin") return(lme4::Penicillin)
  folder <- if (file.exists(file.path(here, "frontier_data", paste0(ds, ".csv")))) "frontier_data" else "mixed_data"
  path <- file.path(here, folder, paste0(ds, ".csv"))
  cols <- names(read.csv(path, nrows = 1))
  cc <- c(trust = "character", team = "character", occ = "character", year = "character", cat = "character")
  d <- read.csv(path, colClasses = cc[intersect(names(cc), cols)])
  for (v in intersect(c("trust", "team", "occ", "year", "cat"), names(d))) d[[v]] <- factor(d[[v]])
  d
}

# id = list(dataset, formula, r2?)
models <- list(
  uncorr2 = list("slope3", "y ~ x + (1 + x || team)", FALSE),
  uncorr3 = list("slope3", "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)", FALSE),
  uncorr3_unequal = list("unequal3", "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)", FALSE),
  uncorr3_trust = list("slope3", "y ~ x + (1 + x || trust) + (1 | team)", FALSE),
  corrtrust_uncorrteam = list("slope3", "y ~ x + (1 + x | trust) + (1 | team) + (0 + x | team)", FALSE),
  crossed2_ri = list("crossed2", "y ~ x + (1 | team) + (1 | occ)", TRUE),
  crossed2_team = list("crossed2", "y ~ x + (1 | team)", TRUE),
  crossed2_occslope = list("crossed2", "y ~ x + (1 | team) + (1 + x | occ)", FALSE),
  crossed0_ri = list("crossed0", "y ~ x + (1 | team) + (1 | occ)", FALSE),
  crossed3_ri = list("crossed3", "y ~ x + (1 | trust) + (1 | team) + (1 | occ)", TRUE),
  crossed3_null = list("crossed3", "y ~ 1 + (1 | trust) + (1 | team) + (1 | occ)", TRUE),
  crossed3_slope = list("crossed3", "y ~ x + (1 | trust) + (1 + x | team) + (1 | occ)", FALSE),
  crossed3_uncorr = list("crossed3", "y ~ x + (1 + x || team) + (1 | occ)", FALSE),
  panel_ri = list("panel", "y ~ x + (1 | trust) + (1 | year) + (1 | trust:year)", TRUE),
  reused_crossed = list("reused3", "y ~ x + cat + z + x:z + (1 | trust) + (1 | team)", TRUE),
  penicillin = list("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE)
)
out_models <- list()
fits <- list()
for (id in names(models)) {
  ds <- models[[id]][[1]]
  f <- models[[id]][[2]]
  d <- read_data(ds)
  mr <- tight_fit(f, d, TRUE)
  mm <- tight_fit(f, d, FALSE)
  fits[[id]] <- list(REML = mr, ML = mm)
  out_models[[id]] <- list(dataset = ds, formula = f,
                           REML = fit_info(mr, models[[id]][[3]]), ML = fit_info(mm, models[[id]][[3]]))
}

comparison <- function(full, reduced, refit) {
  a <- fits[[full]][[if (refit) "ML" else "REML"]]
  b <- fits[[reduced]][[if (refit) "ML" else "REML"]]
  tab <- suppressMessages(anova(a, b, refit = FALSE))
  list(full = full, reduced = reduced, refit = refit, chisq = tab$Chisq[2], df = tab$Df[2],
       pvalue = tab[["Pr(>Chisq)"]][2], loglik = arr(tab$logLik))
}
comparisons <- list(comparison("crossed2_ri", "crossed2_team", FALSE),
                    comparison("crossed3_ri", "crossed3_null", TRUE))

versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")),
                 performance = as.character(packageVersion("performance")),
                 Matrix = as.character(packageVersion("Matrix")))
header <- sprintf("generated by tests/reference/lme4_frontier.R with %s, lme4 %s, lmerTest %s, performance %s, Matrix %s on %s; generated, do not edit",
                  versions$R, versions$lme4, versions$lmerTest, versions$performance, versions$Matrix,
                  format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
writeLines(to_json(list(header = header, versions = versions, models = out_models, comparisons = comparisons)),
           out_file)
cat("wrote", out_file, "\n")
