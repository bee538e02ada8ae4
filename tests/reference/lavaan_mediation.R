# Reference values for teamculture.mediation: path models fitted by lavaan (maximum likelihood,
# estimates and standard errors of the regressions and of the `:=` defined indirect and total
# effects), the same equations by lm (OLS standard errors) and glm (Poisson / quasi-Poisson with an
# offset log(expected)), and the pooled within-trust regression with cluster-robust standard errors
# (sandwich::vcovCL, type "HC0", cluster adjustment G/(G-1)).
#
# Run from the repository root:
#   Rscript tests/reference/lavaan_mediation.R
# Writes tests/reference/lavaan_mediation.json. The data are drawn here (seeded) and written to the
# JSON with the results; numbers use sprintf("%.17g").
suppressPackageStartupMessages({
  library(lavaan)
  library(sandwich)
})

num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  if (length(x) == 1) s else paste0("[", paste(s, collapse = ", "), "]")
}
vec <- function(x) paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", as.numeric(x))), collapse = ", "), "]")
str1 <- function(x) paste0("\"", gsub("\"", "\\\\\"", x), "\"")
strs <- function(x) paste0("[", paste(vapply(x, str1, ""), collapse = ", "), "]")
obj <- function(kv) {
  paste0("{", paste(sprintf("%s: %s", vapply(names(kv), str1, ""), unlist(kv)), collapse = ", "), "}")
}
frame <- function(d) obj(setNames(lapply(d, vec), names(d)))

# lavaan parameter table -> {label: {est, se}} for regressions ("y~x") and defined parameters
lav <- function(fit) {
  pe <- parameterEstimates(fit)
  keep <- pe$op %in% c("~", ":=", "~1")
  pe <- pe[keep, ]
  key <- ifelse(pe$op == ":=", pe$lhs, ifelse(pe$op == "~1", paste0(pe$lhs, "~1"), paste0(pe$lhs, "~", pe$rhs)))
  obj(list(names = strs(key), est = vec(pe$est), se = vec(pe$se)))
}
coefs <- function(fit, vc = vcov(fit)) {
  obj(list(names = strs(names(coef(fit))), est = vec(coef(fit)), se = vec(sqrt(diag(vc)))))
}

set.seed(20261203)
out <- list()

# ---- model A: one predictor, one mediator, one covariate -------------------------------------
n <- 150
x <- rnorm(n); z <- rnorm(n)
m <- 0.5 * x + 0.3 * z + rnorm(n)
y <- 0.4 * m + 0.2 * x - 0.1 * z + rnorm(n)
dA <- data.frame(x = x, z = z, m = m, y = y)
modA <- "
  m ~ a*x + z
  y ~ b*m + c*x + z
  ind := a*b
  total := c + a*b
"
fitA <- sem(modA, data = dA, meanstructure = TRUE)
out$A <- obj(list(data = frame(dA), lavaan = lav(fitA),
                  lm_m = coefs(lm(m ~ x + z, dA)), lm_y = coefs(lm(y ~ x + z + m, dA))))

# ---- model B: King's Fund-like, three antecedents, two parallel mediators (residuals free to
# correlate: the saturated model), a covariate -----------------------------------------------------
n <- 200
S <- matrix(0.4, 3, 3); diag(S) <- 1
X <- matrix(rnorm(n * 3), n, 3) %*% chol(S)
colnames(X) <- c("leadership", "support", "pressure")
size <- rnorm(n)
engagement <- X %*% c(0.3, 0.2, -0.2) + 0.1 * size + rnorm(n, sd = 0.6)
valued <- X %*% c(0.1, 0.3, 0.0) + rnorm(n, sd = 0.6)
satisfaction <- 0.4 * engagement + 0.2 * valued + X %*% c(0.1, 0, 0) - 0.05 * size + rnorm(n, sd = 0.5)
dB <- data.frame(X, size = size, engagement = as.numeric(engagement), valued = as.numeric(valued),
                 satisfaction = as.numeric(satisfaction))
modB <- "
  engagement ~ a11*leadership + a12*support + a13*pressure + size
  valued ~ a21*leadership + a22*support + a23*pressure + size
  satisfaction ~ b1*engagement + b2*valued + c1*leadership + c2*support + c3*pressure + size
  engagement ~~ valued
  ind_leadership_engagement := a11*b1
  ind_leadership_valued := a21*b2
  ind_support_engagement := a12*b1
  ind_support_valued := a22*b2
  ind_pressure_engagement := a13*b1
  ind_pressure_valued := a23*b2
  totind_leadership := a11*b1 + a21*b2
  totind_support := a12*b1 + a22*b2
  totind_pressure := a13*b1 + a23*b2
  total_leadership := c1 + a11*b1 + a21*b2
  total_support := c2 + a12*b1 + a22*b2
  total_pressure := c3 + a13*b1 + a23*b2
"
fitB <- sem(modB, data = dB, meanstructure = TRUE)
out$B <- obj(list(data = frame(dB), lavaan = lav(fitB)))

# ---- model C: serial chain x1, x2 -> engagement -> wellbeing -> absence -------------------------
n <- 180
x1 <- rnorm(n); x2 <- 0.3 * x1 + rnorm(n)
eng <- 0.4 * x1 + 0.2 * x2 + rnorm(n)
wb <- 0.5 * eng - 0.2 * x2 + rnorm(n)
absence <- 4 - 0.3 * wb - 0.1 * eng + 0.05 * x1 + rnorm(n, sd = 0.5)
dC <- data.frame(x1 = x1, x2 = x2, engagement = eng, wellbeing = wb, absence = absence)
modC <- "
  engagement ~ a1*x1 + a2*x2
  wellbeing ~ d*engagement + g1*x1 + g2*x2
  absence ~ bw*wellbeing + bm*engagement + c1*x1 + c2*x2
  ind_x1_engagement := a1*bm
  ind_x1_engagement_wellbeing := a1*d*bw
  ind_x1_wellbeing := g1*bw
  ind_x2_engagement := a2*bm
  ind_x2_engagement_wellbeing := a2*d*bw
  ind_x2_wellbeing := g2*bw
  totind_x1 := a1*bm + a1*d*bw + g1*bw
  total_x1 := c1 + a1*bm + a1*d*bw + g1*bw
"
fitC <- sem(modC, data = dC, meanstructure = TRUE)
out$C <- obj(list(data = frame(dC), lavaan = lav(fitC)))

# ---- model D: count outcome with an offset (glm) --------------------------------------------------
n <- 160
x <- rnorm(n); eng <- 0.5 * x + rnorm(n)
expected <- round(exp(rnorm(n, log(1200), 0.5)), 1)
deaths <- rpois(n, expected * exp(-0.04 * eng - 0.02 * x + rnorm(n, sd = 0.03)))
dD <- data.frame(x = x, engagement = eng, expected = expected, deaths = deaths)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
pois <- glm(deaths ~ x + engagement + offset(log(expected)), family = poisson, data = dD, control = ctl)
quasi <- glm(deaths ~ x + engagement + offset(log(expected)), family = quasipoisson, data = dD, control = ctl)
out$D <- obj(list(data = frame(dD), lm_m = coefs(lm(engagement ~ x, dD)), poisson = coefs(pois),
                  quasipoisson = coefs(quasi), dispersion = num(summary(quasi)$dispersion)))

# ---- model E: within-trust regression, cluster-robust standard errors -----------------------------
G <- 30
trust <- rep(sprintf("T%02d", 1:G), times = sample(8:25, G, replace = TRUE))
k <- as.integer(factor(trust))
nE <- length(trust)
xb <- rnorm(G)
x1 <- xb[k] + rnorm(nE); x2 <- 0.5 * xb[k] + 0.4 * x1 + rnorm(nE)
u <- rnorm(G, sd = 0.4)
m <- 0.3 * x1 - 0.2 * x2 + 0.6 * xb[k] + u[k] + rnorm(nE) * (1 + 0.3 * (k %% 3))
dE <- data.frame(trust = trust, x1 = x1, x2 = x2, m = m)
fe <- lm(m ~ x1 + x2 + factor(trust), dE)
vc <- vcovCL(fe, cluster = ~trust, type = "HC0", cadjust = TRUE)
out$E <- obj(list(trust = strs(trust), x1 = vec(x1), x2 = vec(x2), m = vec(m),
                  est = vec(coef(fe)[c("x1", "x2")]), se = vec(sqrt(diag(vc)[c("x1", "x2")]))))

versions <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                 sandwich = as.character(packageVersion("sandwich")))
header <- sprintf("generated by tests/reference/lavaan_mediation.R with %s, lavaan %s, sandwich %s on %s; generated, do not edit",
                  versions$R, versions$lavaan, versions$sandwich, format(Sys.Date()))
json <- obj(c(list(header = str1(header), versions = obj(lapply(versions, str1))), out))
writeLines(json, "tests/reference/lavaan_mediation.json")
