# Reference values for teamculture.outcomes, from R's glm, MASS::glm.nb, lm,
# sandwich and plm, on the CSVs written by make_outcomes_data.py.
#
# Run from the repository root:
#   python tests/reference/make_outcomes_data.py
#   Rscript tests/reference/outcomes.R
# Writes tests/reference/outcomes.json. Numbers are written with
# sprintf("%.17g") by the small serializer below (jsonlite keeps 15 digits).
#
# Layout: header, versions, fits.<id>: coef_names, coef, se (model-based) and,
# where computed, se_hc0 / se_hc1 / se_cluster (sandwich; panels: plm's
# Stata-like type = "sss"), dispersion, theta,
# loglik, deviance, r_squared, sigma2, nobs; and the tests of summary():
# statistic (t or z value), pvalue (Pr(>|t|) or Pr(>|z|)), df (residual df
# for t; null for z), ci_low / ci_high (coef -/+ qt(0.975, df) * se for t
# tests, confint.default() for z), ci_default_low / _high (confint.default()
# of the quasi-Poisson fits: z intervals, which R gives next to t tests).
# quasipoisson_t20 is the quasi-Poisson fit to the 20 trusts of trusts20.csv.
suppressPackageStartupMessages({
  library(MASS)
  library(sandwich)
  library(plm)
})

num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  if (length(x) == 1) s else paste0("[", paste(s, collapse = ", "), "]")
}
str1 <- function(x) paste0("\"", gsub("\"", "\\\\\"", x), "\"")
strv <- function(x) paste0("[", paste(vapply(x, str1, ""), collapse = ", "), "]")
obj <- function(...) {
  kv <- list(...)
  paste0("{", paste(sprintf("%s: %s", vapply(names(kv), str1, ""), unlist(kv)), collapse = ", "), "}")
}

trusts <- read.csv("tests/reference/outcomes_data/trusts.csv", stringsAsFactors = FALSE)
panel <- read.csv("tests/reference/outcomes_data/panel.csv", stringsAsFactors = FALSE)
trusts$share40 <- trusts$real_team_pct - 40
ctl <- glm.control(epsilon = 1e-14, maxit = 200)
names3 <- c("Intercept", "real_team_pct", "absence_rate")
se <- function(v) sqrt(diag(v))

fits <- list()

# the tests summary() prints, and the matching Wald intervals
tests_t <- function(fit) {
  s <- summary(fit)$coefficients
  df <- df.residual(fit)
  q <- qt(0.975, df)
  list(statistic = num(s[, 3]), pvalue = num(s[, 4]), df = num(df),
       ci_low = num(s[, 1] - q * s[, 2]), ci_high = num(s[, 1] + q * s[, 2]),
       ci_default_low = num(confint.default(fit)[, 1]), ci_default_high = num(confint.default(fit)[, 2]))
}
tests_z <- function(fit) {
  s <- summary(fit)$coefficients
  list(statistic = num(s[, 3]), pvalue = num(s[, 4]), df = "null",
       ci_low = num(confint.default(fit)[, 1]), ci_high = num(confint.default(fit)[, 2]))
}

# --- cross-section: Poisson, quasi-Poisson, negative binomial -------------------
f <- observed_deaths ~ share40 + absence_rate
pois <- glm(f, family = poisson, offset = log(expected_deaths), data = trusts, control = ctl)
fits$poisson <- do.call(obj, c(list(
  coef_names = strv(names3), coef = num(coef(pois)), se = num(se(vcov(pois))),
  se_hc0 = num(se(vcovHC(pois, type = "HC0"))), loglik = num(logLik(pois)),
  deviance = num(deviance(pois)), nobs = num(nobs(pois))), tests_z(pois)))

qp <- glm(f, family = quasipoisson, offset = log(expected_deaths), data = trusts, control = ctl)
fits$quasipoisson <- do.call(obj, c(list(
  coef_names = strv(names3), coef = num(coef(qp)), se = num(se(vcov(qp))),
  se_hc0 = num(se(vcovHC(qp, type = "HC0"))), dispersion = num(summary(qp)$dispersion),
  deviance = num(deviance(qp)), nobs = num(nobs(qp))), tests_t(qp)))

# 20 trusts: t(18) and z give visibly different p-values
trusts20 <- read.csv("tests/reference/outcomes_data/trusts20.csv", stringsAsFactors = FALSE)
qp20 <- glm(observed_deaths ~ real_team_pct, family = quasipoisson, offset = log(expected_deaths),
            data = trusts20, control = ctl)
fits$quasipoisson_t20 <- do.call(obj, c(list(
  coef_names = strv(c("Intercept", "real_team_pct")), coef = num(coef(qp20)), se = num(se(vcov(qp20))),
  dispersion = num(summary(qp20)$dispersion), nobs = num(nobs(qp20))), tests_t(qp20)))

nb <- glm.nb(observed_deaths ~ share40 + absence_rate + offset(log(expected_deaths)), data = trusts,
             control = glm.control(epsilon = 1e-12, maxit = 1000))
fits$negbin <- do.call(obj, c(list(
  coef_names = strv(names3), coef = num(coef(nb)), se = num(se(vcov(nb))),
  se_hc0 = num(se(vcovHC(nb, type = "HC0"))), theta = num(nb$theta),
  loglik = num(logLik(nb)), deviance = num(deviance(nb)), nobs = num(nobs(nb))), tests_z(nb)))

# --- cross-section: linear models of 100 * SMR -------------------------------------
trusts$smr100 <- 100 * trusts$observed_deaths / trusts$expected_deaths
for (w in c("ols", "wls")) {
  fit <- if (w == "wls") lm(smr100 ~ share40 + absence_rate, data = trusts, weights = expected_deaths)
         else lm(smr100 ~ share40 + absence_rate, data = trusts)
  fits[[w]] <- do.call(obj, c(list(
    coef_names = strv(names3), coef = num(coef(fit)), se = num(se(vcov(fit))),
    se_hc1 = num(se(vcovHC(fit, type = "HC1"))), r_squared = num(summary(fit)$r.squared),
    sigma2 = num(summary(fit)$sigma^2), loglik = num(logLik(fit)), nobs = num(nobs(fit))), tests_t(fit)))
}

# --- panel: Poisson with trust-clustered SEs ---------------------------------------------
panel$share40 <- panel$real_team_pct - 40
pp <- glm(observed_deaths ~ share40, family = poisson, offset = log(expected_deaths), data = panel,
          control = ctl)
fits$panel_poisson_cluster <- obj(
  coef_names = strv(c("Intercept", "real_team_pct")), coef = num(coef(pp)), se = num(se(vcov(pp))),
  se_cluster = num(se(vcovCL(pp, cluster = ~trust, type = "HC1"))), nobs = num(nobs(pp)))

# --- panel: plm within (two-way), random (year dummies), between -----------------------
panel$log_smr <- log(panel$observed_deaths / panel$expected_deaths)
pdat <- pdata.frame(panel, index = c("trust", "year"))
within <- plm(log_smr ~ real_team_pct, data = pdat, model = "within", effect = "twoways")
fits$panel_within <- obj(
  coef_names = strv("real_team_pct"), coef = num(coef(within)), se = num(se(vcov(within))),
  se_cluster = num(se(vcovHC(within, method = "arellano", type = "sss", cluster = "group"))),
  r_squared = num(summary(within)$r.squared[["rsq"]]), nobs = num(nobs(within)))
random <- plm(log_smr ~ real_team_pct + factor(year), data = pdat, model = "random",
              effect = "individual", random.method = "swar")
fits$panel_random <- obj(
  coef_names = strv(names(coef(random))), coef = num(coef(random)), se = num(se(vcov(random))),
  se_cluster = num(se(vcovHC(random, method = "arellano", type = "sss", cluster = "group"))),
  nobs = num(nobs(random)))
between <- plm(log_smr ~ real_team_pct, data = pdat, model = "between")
# clustering by trust on one row per trust: HC1 on the trust means (plm's vcovHC has no between method)
means <- aggregate(cbind(log_smr, real_team_pct) ~ trust, data = panel, FUN = mean)
between_lm <- lm(log_smr ~ real_team_pct, data = means)
fits$panel_between <- obj(
  coef_names = strv(c("Intercept", "real_team_pct")), coef = num(coef(between)),
  se = num(se(vcov(between))), se_hc1_means = num(se(vcovHC(between_lm, type = "HC1"))),
  nobs = num(nobs(between)))

ver <- function(p) as.character(packageVersion(p))
rver <- R.version.string
header <- sprintf(
  "generated by tests/reference/outcomes.R with %s, MASS %s, sandwich %s, plm %s on %s; generated, do not edit",
  rver, ver("MASS"), ver("sandwich"), ver("plm"), format(Sys.Date()))
out <- obj(
  header = str1(header),
  versions = obj(R = str1(rver), MASS = str1(ver("MASS")), sandwich = str1(ver("sandwich")), plm = str1(ver("plm"))),
  fits = do.call(obj, fits))
writeLines(out, "tests/reference/outcomes.json")
