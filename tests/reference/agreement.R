# Reference values for teamculture.agreement / teamculture.nesting from R.
#
# Run from the repository root (after python tests/reference/make_agreement_data.py):
#     Rscript tests/reference/agreement.R
# Writes tests/reference/agreement.json. Numbers are written as strings with
# sprintf("%.17g") (full double precision); "NA" is R's NA.
#
# multilevel 2.7 drops every row with any missing value (na.exclude on the
# whole data frame) before rwg, rwg.j, rwg.j.lindell, awg and ad.m: these
# are the oracles for teamculture's listwise=True. The pairwise (per item)
# rule of multilevel >= 2.8 is computed below with base R's var(na.rm=TRUE)
# per item, an oracle for the default listwise=False.
suppressPackageStartupMessages({
  library(multilevel)
  library(lme4)
  library(jsonlite)
})

dir <- "tests/reference/agreement_data"
d <- read.csv(file.path(dir, "items.csv"), stringsAsFactors = FALSE)
b3 <- read.csv(file.path(dir, "three_balanced.csv"), stringsAsFactors = FALSE)
u3 <- read.csv(file.path(dir, "three_unbalanced.csv"), stringsAsFactors = FALSE)

num <- function(x) sprintf("%.17g", x)
tab <- function(df) lapply(df, function(col) if (is.numeric(col)) num(col) else as.character(col))

items <- d[, c("i1", "i2", "i3")]
p7 <- d[, c("p1", "p2")]
out <- list()

# --- rwg family (listwise, multilevel 2.7) ----------------------------------
out$rwg_i1 <- tab(rwg(d$i1, d$grp, ranvar = 2))
out$rwg_i1_slight <- tab(rwg(d$i1, d$grp, ranvar = 1.34))
out$rwg_j <- tab(rwg.j(items, d$grp, ranvar = 2))
out$rwg_j_p7 <- tab(rwg.j(p7, d$grp, ranvar = 4))
out$rwg_j_lindell <- tab(rwg.j.lindell(items, d$grp, ranvar = 2))
out$awg_items <- tab(awg(items, d$grp, range = c(1, 5))[, c("grpid", "a.wg", "nraters")])
out$awg_i1 <- tab(awg(d$i1, d$grp, range = c(1, 5))[, c("grpid", "a.wg", "nraters", "grp.var")])
out$ad_items_mean <- tab(ad.m(items, d$grp, type = "mean"))
out$ad_items_median <- tab(ad.m(items, d$grp, type = "median"))
out$ad_i1_mean <- tab(ad.m(d$i1, d$grp, type = "mean"))

# --- pairwise rule (per-item variances over the members who answered) ------
pair <- do.call(rbind, lapply(split(items, d$grp), function(Q) {
  v <- apply(Q, 2, var, na.rm = TRUE)        # NA for items with < 2 answers
  v <- v[!is.na(v)]
  J <- length(v)
  S <- mean(v)
  St <- min(S, 2)
  data.frame(J = J, S = S,
             rwg.j = if (J > 0) (J * (1 - St / 2)) / (J * (1 - St / 2) + St / 2) else NA,
             lindell = if (J > 0) 1 - S / 2 else NA)
}))
out$pairwise <- tab(data.frame(grpid = rownames(pair), pair))

# --- ICC(1), ICC(2) --------------------------------------------------------
m_y <- aov(y ~ as.factor(grp), data = d)
m_i1 <- aov(i1 ~ as.factor(grp), data = d)   # aov drops the NA rows
out$icc <- list(
  icc1_y = num(ICC1(m_y)), icc2_y = num(ICC2(m_y)),
  icc1_i1 = num(ICC1(m_i1)), icc2_i1 = num(ICC2(m_i1))
)
mi <- mult.icc(d[, c("y", "x")], d$grp)        # nlme REML, optim
out$mult_icc <- tab(mi)

# --- WABA ------------------------------------------------------------------
w <- waba(d$x, d$y, d$grp)
out$waba <- c(lapply(as.list(w$Cov.Theorem), num), list(n_obs = num(w$n.obs), n_grps = num(w$n.grps)))

# --- three-level variance components (lme4 REML) ---------------------------
vc3 <- function(df) {
  fit <- lmer(y ~ 1 + (1 | trust / team), data = df, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
  v <- as.data.frame(VarCorr(fit))
  list(grp = v$grp, vcov = num(v$vcov))
}
out$three_balanced <- vc3(b3)
out$three_unbalanced <- vc3(u3)
fit2 <- lmer(y ~ 1 + (1 | grp), data = d, REML = TRUE,
             control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
v2 <- as.data.frame(VarCorr(fit2))
out$two_level_reml <- list(grp = v2$grp, vcov = num(v2$vcov))

header <- sprintf("generated, do not edit: %s, multilevel %s, lme4 %s, nlme %s, %s",
                  R.version.string, packageVersion("multilevel"), packageVersion("lme4"),
                  packageVersion("nlme"), format(Sys.Date()))
writeLines(toJSON(list(header = header, results = out), auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/agreement.json")
