# Reference values for teamculture.reliability from psych (alpha, omega, fa,
# statsBy) and base R (manova sums of squares), on the CSVs written by
# make_reliability_data.py.
#
# Run from the repository root:
#   python tests/reference/make_reliability_data.py
#   Rscript tests/reference/psych_reliability.R
# Writes tests/reference/psych_reliability.json. Numbers are written with
# sprintf("%.17g") (full double precision) by the small serializer below.
#
# Layout of the JSON:
#   header, versions
#   alpha.<case>: psych::alpha output: total (raw_alpha, std.alpha, G6(smc),
#     average_r, S/N, ase, mean, sd, median_r), alpha_drop (columns of
#     $alpha.drop, rows in item order), item_stats (columns of $item.stats),
#     feldt (lower.ci, upper.ci; p.val = .05), nsub.
#   omega.<case>: psych::omega(..., plot = FALSE): omega_h, omega_tot,
#     omega_lim, alpha, sl (columns of $schmid$sl), phi (oblique factor
#     correlations, row-major), h2.
#   fa1.<case>: psych::fa(nfactors = 1, fm = "minres"): loadings, uniquenesses.
#   score_items.<case>: psych::scoreItems(keys, x, impute = "none"): alpha,
#     G6, av_r, n_items per scale (scales s1 = A1, A2, -A3; s2 = A4-A6; all).
#   multilevel: statsBy (rwg = pooled within-group correlations, ICC1, ICC2),
#     manova SSCP matrices (ss_between, ss_within, row-major), n, G, sizes
#     (group sizes in label order), alpha of the method-of-moments within /
#     between covariance matrices by psych::alpha on those matrices, and
#     one-factor psych::fa(covar = TRUE, fm = "minres") fits to each matrix
#     (fa_within, fa_between: loadings, uniquenesses).
suppressPackageStartupMessages({
  library(psych)
  library(GPArotation)
})

here <- "tests/reference"
dat <- file.path(here, "reliability_data")

num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  s[is.infinite(x)] <- "null"
  s
}
to_json <- function(x) {
  if (is.list(x)) {
    nm <- names(x)
    body <- vapply(seq_along(x), function(i) to_json(x[[i]]), "")
    if (is.null(nm)) return(paste0("[", paste(body, collapse = ", "), "]"))
    return(paste0("{", paste(sprintf("\"%s\": %s", nm, body), collapse = ", "), "}"))
  }
  if (is.character(x)) {
    s <- sprintf("\"%s\"", x)
  } else if (is.logical(x)) {
    s <- ifelse(x, "true", "false")
  } else {
    s <- num(x)
  }
  if (length(x) == 1 && is.null(dim(x))) return(s)
  paste0("[", paste(s, collapse = ", "), "]")
}
cols <- function(df) {
  out <- lapply(seq_len(ncol(df)), function(j) as.numeric(df[[j]]))
  names(out) <- colnames(df)
  out
}
rowmajor <- function(m) as.numeric(t(as.matrix(m)))

alpha_case <- function(x, keys) {
  a <- alpha(x, keys = keys, warnings = FALSE)
  list(
    keys = if (is.null(keys)) character(0) else keys,
    total = cols(a$total),
    alpha_drop = cols(a$alpha.drop),
    item_stats = cols(a$item.stats),
    feldt = list(lower_ci = as.numeric(a$feldt$lower.ci), upper_ci = as.numeric(a$feldt$upper.ci)),
    nsub = nrow(x)
  )
}

likert <- read.csv(file.path(dat, "likert6.csv"))
likert_na <- read.csv(file.path(dat, "likert6_na.csv"))
bif <- read.csv(file.path(dat, "bifactor9.csv"))
ml <- read.csv(file.path(dat, "multilevel.csv"))

res <- list()
res$alpha <- list(
  likert6_keyed = alpha_case(likert, c("A3")),
  likert6_unkeyed_first4 = alpha_case(likert[, c("A1", "A2", "A4", "A5")], NULL),
  likert6_na_keyed = alpha_case(likert_na, c("A3")),
  bifactor9 = alpha_case(bif, NULL)
)

omega_case <- function(x, nf) {
  o <- suppressWarnings(suppressMessages(omega(x, nfactors = nf, plot = FALSE)))
  sl <- as.data.frame(unclass(o$schmid$sl))
  list(
    omega_h = as.numeric(o$omega_h), omega_tot = as.numeric(o$omega.tot),
    omega_lim = as.numeric(o$omega.lim), alpha = as.numeric(o$alpha),
    sl = cols(sl), phi = if (is.null(o$schmid$phi)) numeric(0) else rowmajor(o$schmid$phi)
  )
}
likert_keyed <- likert
likert_keyed$A3 <- 6 - likert_keyed$A3
likert_na_keyed <- likert_na
likert_na_keyed$A3 <- 6 - likert_na_keyed$A3
res$omega <- list(
  bifactor9_3 = omega_case(bif, 3),
  bifactor9_2 = omega_case(bif, 2),
  bifactor9_1 = omega_case(bif, 1),
  likert6_keyed_1 = omega_case(likert_keyed, 1),
  likert6_na_keyed_1 = omega_case(likert_na_keyed, 1),
  likert6_na_keyed_2 = omega_case(likert_na_keyed, 2)
)
fa1 <- function(x) {
  f <- fa(x, nfactors = 1, fm = "minres")
  list(loadings = as.numeric(f$loadings), uniquenesses = as.numeric(f$uniquenesses))
}
res$fa1 <- list(bifactor9 = fa1(bif), likert6_keyed = fa1(likert_keyed))

# scoreItems (impute = "none") on psych-style keys
score_case <- function(x) {
  keys <- list(s1 = c("A1", "A2", "-A3"), s2 = c("A4", "A5", "A6"), all = c("A1", "A2", "-A3", "A4", "A5", "A6"))
  sc <- scoreItems(keys, x, impute = "none")
  list(alpha = as.numeric(sc$alpha), G6 = as.numeric(sc$G6), av_r = as.numeric(sc$av.r),
       n_items = as.numeric(sc$n.items), scales = colnames(sc$alpha))
}
res$score_items <- list(likert6 = score_case(likert), likert6_na = score_case(likert_na))

# multilevel: statsBy and base-R manova decomposition
items <- c("m1", "m2", "m3", "m4")
sb <- suppressWarnings(statsBy(ml, group = "g", cors = TRUE))
fit <- manova(as.matrix(ml[, items]) ~ factor(ml$g))
ss <- summary(fit)$SS
G <- length(unique(ml$g))
n <- nrow(ml)
sizes <- as.numeric(table(ml$g))
sw <- ss$Residuals / (n - G)
msb <- ss[["factor(ml$g)"]] / (G - 1)
c_n <- (n - sum(sizes^2) / n) / (G - 1)
sbetween <- (msb - sw) / c_n
fa1cov <- function(S) {
  f <- fa(S, nfactors = 1, fm = "minres", covar = TRUE)
  list(loadings = as.numeric(f$loadings), uniquenesses = as.numeric(f$uniquenesses))
}
res$multilevel <- list(
  n = n, G = G, sizes = sizes,
  rwg = rowmajor(sb$rwg), ICC1 = as.numeric(sb$ICC1), ICC2 = as.numeric(sb$ICC2),
  ss_between = rowmajor(ss[["factor(ml$g)"]]), ss_within = rowmajor(ss$Residuals),
  alpha_within = as.numeric(alpha(sw, warnings = FALSE)$total$raw_alpha),
  alpha_between = as.numeric(alpha(sbetween, warnings = FALSE)$total$raw_alpha),
  fa_within = fa1cov(sw), fa_between = fa1cov(sbetween)
)

versions <- list(
  R = R.version.string,
  psych = as.character(packageVersion("psych")),
  GPArotation = as.character(packageVersion("GPArotation"))
)
header <- sprintf(
  "generated by tests/reference/psych_reliability.R with %s, psych %s, GPArotation %s on %s; generated, do not edit",
  versions$R, versions$psych, versions$GPArotation, format(Sys.Date())
)
out <- c(list(header = header, versions = versions), res)
writeLines(to_json(out), file.path(here, "psych_reliability.json"))
