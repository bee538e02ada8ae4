# Reference values for teamculture's multilevel models, from lme4 + lmerTest
# + performance, on the CSVs written by make_mixed_data.py.
#
# Run from the repository root:
#   python tests/reference/make_mixed_data.py
#   Rscript tests/reference/lme4_reference.R
# Writes tests/reference/lme4_reference.json. All numbers are written with
# sprintf("%.17g") (full double precision) by the small serializer below,
# because jsonlite keeps only 15 significant digits.
#
# Layout of the JSON:
#   header, versions
#   models.<id>: dataset, formula (lme4 syntax), and REML / ML fits, each with
#     fixef_names, fixef, vcov (rows in fixef order), varcorr (rows of
#     as.data.frame(VarCorr): grp, var1, var2 [covariances], vcov, sdcor; lme4
#     names (1 | trust/team) "team:trust" and a second term of the same factor
#     "team.1"), sigma2, loglik (REML log-likelihood for REML fits), loglik_df,
#     remlcrit (REML fits) or deviance (ML fits), nobs, ngrps, singular,
#     theta, ranef.<grp>: levels, terms, values.<term>, condvar_blocks (one
#     block per term: vector of conditional variances, or per-level matrices),
#     satterthwaite (lmerTest: names, estimate, se, df, t, p),
#     r2_nakagawa (performance: conditional, marginal; null when undefined).
#   comparisons[]: full, reduced, refit (anova(full, reduced, refit = refit)),
#     npar, loglik, deviance (reduced first), chisq, df, pvalue (plain chi^2).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(performance)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "mixed_data")
out_file <- file.path(here, "lme4_reference.json")

# ---- minimal JSON writer with full precision --------------------------------
num <- function(x) {
  ifelse(is.na(x), "null",
         ifelse(is.infinite(x), ifelse(x > 0, "\"Infinity\"", "\"-Infinity\""),
                sprintf("%.17g", x)))
}
str_json <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  paste0("\"", s, "\"")
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (inherits(x, "scalar")) x <- unclass(x)
  if (is.list(x)) {
    nm <- names(x)
    if (!is.null(nm) && all(nm != "")) {
      parts <- vapply(seq_along(x), function(i) paste0(str_json(nm[i]), ": ", to_json(x[[i]])), "")
      return(paste0("{", paste(parts, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  if (is.logical(x)) {
    v <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    v <- num(as.numeric(x))
  } else {
    v <- str_json(as.character(x))
  }
  if (length(x) == 1 && is.null(attr(x, "array"))) return(v)
  paste0("[", paste(v, collapse = ", "), "]")
}
arr <- function(x) { attr(x, "array") <- TRUE; x }  # force a JSON array
mat <- function(m) lapply(seq_len(nrow(m)), function(i) arr(unname(as.numeric(m[i, ]))))

# ---- one fit -----------------------------------------------------------------
fit_info <- function(m) {
  fe <- fixef(m)
  vc <- as.data.frame(VarCorr(m))
  vc_list <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i],
    vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  re <- ranef(m, condVar = TRUE)
  re_list <- list()
  for (g in names(re)) {
    r <- re[[g]]
    pv <- attr(r, "postVar")
    terms <- colnames(r)
    values <- list()
    for (t in terms) values[[t]] <- arr(unname(r[[t]]))
    # condvar: one block per random-effects term of this grouping factor
    # (lme4 gives a list of arrays when the factor appears in several terms);
    # each block is a vector (one column) or a list of per-level matrices.
    blocks <- if (is.list(pv)) pv else list(pv)
    condvar <- lapply(blocks, function(b) {
      if (dim(b)[1] == 1) arr(as.numeric(b[1, 1, ]))
      else lapply(seq_len(dim(b)[3]), function(j) mat(b[, , j]))
    })
    re_list[[g]] <- list(levels = arr(rownames(r)), terms = arr(terms),
                         values = values, condvar_blocks = condvar)
  }
  co <- summary(m, ddf = "Satterthwaite")$coefficients
  satt <- list(names = arr(rownames(co)), estimate = arr(unname(co[, "Estimate"])),
               se = arr(unname(co[, "Std. Error"])), df = arr(unname(co[, "df"])),
               t = arr(unname(co[, "t value"])), p = arr(unname(co[, "Pr(>|t|)"])))
  r2 <- tryCatch({
    rr <- suppressWarnings(performance::r2_nakagawa(m))
    list(conditional = unname(as.numeric(rr$R2_conditional)),
         marginal = unname(as.numeric(rr$R2_marginal)))
  }, error = function(e) list(error = conditionMessage(e)))
  ll <- logLik(m)
  list(
    reml = isREML(m),
    fixef_names = arr(names(fe)),
    fixef = arr(unname(fe)),
    vcov = mat(as.matrix(vcov(m))),
    varcorr = vc_list,
    sigma2 = sigma(m)^2,
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    remlcrit = if (isREML(m)) REMLcrit(m) else NULL,
    deviance = if (isREML(m)) NULL else deviance(m),
    nobs = nobs(m),
    ngrps = as.list(ngrps(m)),
    singular = isSingular(m, tol = 1e-4),
    theta = arr(unname(getME(m, "theta"))),
    ranef = re_list,
    satterthwaite = satt,
    r2_nakagawa = r2
  )
}

models <- list(
  balanced2_ri = list("balanced2", "y ~ x + (1 | team)"),
  balanced3_ri = list("balanced3", "y ~ x + (1 | trust) + (1 | team)"),
  balanced3_team = list("balanced3", "y ~ x + (1 | team)"),
  unbalanced3_full = list("unbalanced3", "y ~ x + cat + z + x:z + (1 | trust) + (1 | team)"),
  unbalanced3_notrust = list("unbalanced3", "y ~ x + cat + z + x:z + (1 | team)"),
  unbalanced3_nocat = list("unbalanced3", "y ~ x + z + x:z + (1 | trust) + (1 | team)"),
  unbalanced3_null = list("unbalanced3", "y ~ 1 + (1 | trust) + (1 | team)"),
  reused3_nested = list("reused3", "y ~ x + cat + z + x:z + (1 | trust/team)"),
  singular3_ri = list("singular3", "y ~ x + (1 | trust) + (1 | team)"),
  singular3_team = list("singular3", "y ~ x + (1 | team)"),
  slope3_ri3 = list("slope3", "y ~ x + (1 | trust) + (1 | team)"),
  slope3_corr2 = list("slope3", "y ~ x + (1 + x | team)"),
  slope3_uncorr3 = list("slope3", "y ~ x + (1 | trust) + (1 | team) + (0 + x | team)"),
  slope3_corr3 = list("slope3", "y ~ x + (1 | trust) + (1 + x | team)")
)

read_data <- function(name) {
  path <- file.path(data_dir, paste0(name, ".csv"))
  cols <- names(read.csv(path, nrows = 1))
  cc <- c(trust = "character", team = "character", cat = "character")
  d <- read.csv(path, colClasses = cc[intersect(names(cc), cols)])
  for (v in intersect(c("trust", "team", "cat"), names(d))) d[[v]] <- factor(d[[v]])
  d
}

fits <- list()
out_models <- list()
for (id in names(models)) {
  ds <- models[[id]][[1]]
  f <- models[[id]][[2]]
  d <- read_data(ds)
  m_reml <- suppressMessages(lmerTest::lmer(as.formula(f), data = d, REML = TRUE))
  m_ml <- suppressMessages(lmerTest::lmer(as.formula(f), data = d, REML = FALSE))
  fits[[id]] <- list(REML = m_reml, ML = m_ml)
  out_models[[id]] <- list(dataset = ds, formula = f,
                           REML = fit_info(m_reml), ML = fit_info(m_ml))
}

comparisons <- list(
  c("balanced3_ri", "balanced3_team"),
  c("unbalanced3_full", "unbalanced3_notrust"),
  c("unbalanced3_full", "unbalanced3_nocat"),
  c("singular3_ri", "singular3_team"),
  c("slope3_uncorr3", "slope3_ri3"),
  c("slope3_corr3", "slope3_ri3")
)
out_cmp <- list()
for (pair in comparisons) {
  for (refit in c(FALSE, TRUE)) {
    a <- fits[[pair[1]]]$REML
    b <- fits[[pair[2]]]$REML
    same_fixed <- identical(names(fixef(a)), names(fixef(b)))
    if (!refit && !same_fixed) next  # REML LRT is meaningless when fixed effects differ
    tab <- suppressMessages(anova(a, b, refit = refit))
    # rows are ordered by number of parameters: reduced first, full second
    out_cmp[[length(out_cmp) + 1]] <- list(
      full = pair[1], reduced = pair[2], refit = refit,
      npar = arr(unname(tab$npar)), loglik = arr(unname(tab$logLik)),
      deviance = arr(unname(tab$deviance)),
      chisq = unname(tab$Chisq[2]), df = unname(tab$Df[2]),
      pvalue = unname(tab[["Pr(>Chisq)"]][2]))
  }
}

versions <- list(R = R.version.string,
                 lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")),
                 performance = as.character(packageVersion("performance")),
                 Matrix = as.character(packageVersion("Matrix")))
header <- sprintf("generated by tests/reference/lme4_reference.R with %s, lme4 %s, lmerTest %s, performance %s, Matrix %s on %s; generated, do not edit",
                  versions$R, versions$lme4, versions$lmerTest, versions$performance,
                  versions$Matrix, format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
res <- list(header = header, versions = versions, models = out_models,
            comparisons = out_cmp)
writeLines(to_json(res), out_file)
cat("wrote", out_file, "\n")
