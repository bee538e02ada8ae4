# Reference values for teamculture.profile.culture_profile, computed from the definitions in its
# docstring with independent R machinery: aov() mean squares for the nested variance components,
# metafor::rma(method = "DL") for the between-unit variance of the other units, pt() for the funnel
# statistic, mad() for the robust z that leaves outlying units out of the reference distribution,
# p.adjust(method = "BH") for the labels, multilevel::ICC2 for the unit-level reliability.
#
# Run from the repository root:
#   Rscript tests/reference/culture_profile.R
# Writes tests/reference/culture_profile.json: the data (drawn here, seeded) and the results.
# Numbers use sprintf("%.17g").
suppressPackageStartupMessages({
  library(metafor)
  library(multilevel)
})

vec <- function(x) paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", as.numeric(x))), collapse = ", "), "]")
str1 <- function(x) paste0("\"", gsub("\"", "\\\\\"", x), "\"")
strs <- function(x) paste0("[", paste(vapply(as.character(x), str1, ""), collapse = ", "), "]")
obj <- function(kv) paste0("{", paste(sprintf("%s: %s", vapply(names(kv), str1, ""), unlist(kv)), collapse = ", "), "}")

set.seed(20261203)
U <- 10
rows <- list()
team_sizes <- lapply(1:U, function(u) sample(3:8, sample(3:5, 1), replace = TRUE))  # teams persist over years
for (year in c(2022, 2023)) {
  for (u in 1:U) {
    unit_eff <- rnorm(1, sd = 0.2) + (u == 3) * 0.6 * (year == 2023) + (u == 7) * 3.5 * (year == 2023)
    for (t in seq_along(team_sizes[[u]])) {
      n <- team_sizes[[u]][t] + sample(0:2, 1)
      team_eff <- rnorm(1, sd = 0.2)
      lat <- unit_eff + team_eff + rnorm(n)
      a1 <- pmin(5, pmax(1, round(3 + lat + rnorm(n, sd = 0.5))))
      a2 <- pmin(10, pmax(0, round(5 + 2 * lat + rnorm(n), 1)))
      b1 <- round(pnorm(-0.5 * lat + rnorm(n, sd = 0.5)), 3)
      rows[[length(rows) + 1]] <- data.frame(year = year, unit = sprintf("U%02d", u),
                                             team = sprintf("U%02d-%d", u, t), a1 = a1, a2 = a2, b1 = b1)
    }
  }
}
d <- do.call(rbind, rows)
d$a2[sample(nrow(d), 12)] <- NA
d$unit[sample(nrow(d), 3)] <- NA

# element scores per respondent (all measures required)
d$A <- (1 * 100 * (d$a1 - 1) / 4 + 2 * 100 * d$a2 / 10) / 3
d$B <- 100 - 100 * d$b1

unit_stats <- function(dd, el) {
  dd <- dd[!is.na(dd[[el]]) & !is.na(dd$unit), ]
  dd$unit <- factor(dd$unit); dd$team <- factor(dd$team)
  fit <- aov(dd[[el]] ~ unit + unit:team, data = dd)
  tab <- summary(fit)[[1]]
  ms_t <- tab[2, "Mean Sq"]; msw <- tab[3, "Mean Sq"]; df_t <- tab[2, "Df"]
  N <- nrow(dd)
  nt <- table(dd$team)
  team_unit <- tapply(as.character(dd$unit), dd$team, `[`, 1)
  nu <- table(dd$unit)
  sum_nt2 <- tapply(as.numeric(nt)^2, team_unit[names(nt)], sum)[levels(dd$unit)]
  n0 <- (N - sum(sum_nt2 / as.numeric(nu))) / df_t
  tau2 <- max(0, (ms_t - msw) / n0)
  mean_u <- tapply(dd[[el]], dd$unit, mean)
  var_u <- msw / as.numeric(nu) + tau2 * sum_nt2 / as.numeric(nu)^2
  list(units = levels(dd$unit), n = as.numeric(nu), mean = as.numeric(mean_u), var = as.numeric(var_u),
       sigma2 = msw, tau2 = tau2, icc2 = ICC2(aov(dd[[el]] ~ unit, data = dd)))
}

results <- list()
pvals <- c(); keys <- c()
for (el in c("A", "B")) {
  cur <- unit_stats(d[d$year == 2023, ], el)
  base <- unit_stats(d[d$year == 2022, ], el)
  K <- length(cur$units)
  # units with a robust z (median, mad()) beyond 4 leave the others' reference distribution
  outlying <- abs(cur$mean - median(cur$mean)) / mad(cur$mean) > 4
  stat <- pv <- bm <- bsd <- pct <- sdiff <- rel <- numeric(K)
  for (i in 1:K) {
    o <- setdiff(1:K, i)
    ot <- setdiff(o, which(outlying))
    re <- rma(yi = cur$mean[ot], vi = cur$var[ot], method = "DL")
    tau2 <- re$tau2
    mt <- mean(cur$mean[ot])
    var_m <- sum(cur$var[ot] + tau2) / length(ot)^2
    stat[i] <- (cur$mean[i] - mt) / sqrt(cur$var[i] + tau2 + var_m)
    pv[i] <- 2 * pt(abs(stat[i]), df = length(ot) - 1, lower.tail = FALSE)
    m <- mean(cur$mean[o])
    bm[i] <- m; bsd[i] <- sd(cur$mean[o])
    pct[i] <- 100 * (sum(cur$mean[o] < cur$mean[i]) + 0.5 * sum(cur$mean[o] == cur$mean[i])) / length(o)
    sdiff[i] <- (cur$mean[i] - m) / bsd[i]
    g <- c(ot, i)
    grp <- rma(yi = cur$mean[g], vi = cur$var[g], method = "DL")
    rel[i] <- grp$tau2 / (grp$tau2 + cur$var[i])
  }
  change <- cur$mean - base$mean[match(cur$units, base$units)]
  change_se <- sqrt(cur$var + base$var[match(cur$units, base$units)])
  results[[el]] <- obj(list(units = strs(cur$units), n = vec(cur$n), score = vec(cur$mean),
                            std_error = vec(sqrt(cur$var)), sigma2 = vec(cur$sigma2), tau2_team = vec(cur$tau2),
                            icc2 = vec(cur$icc2), statistic = vec(stat), pvalue = vec(pv), benchmark_mean = vec(bm),
                            benchmark_sd = vec(bsd), percentile = vec(pct), std_difference = vec(sdiff),
                            reliability = vec(rel), change = vec(change), change_std_error = vec(change_se),
                            n_outlying = vec(sum(outlying)),
                            tau2_unit = vec(rma(yi = cur$mean[!outlying], vi = cur$var[!outlying],
                                                method = "DL")$tau2)))
  pvals <- c(pvals, pv); keys <- c(keys, paste(cur$units, el))
}
bh <- p.adjust(pvals, method = "BH")

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 multilevel = as.character(packageVersion("multilevel")))
header <- sprintf("generated by tests/reference/culture_profile.R with %s, metafor %s, multilevel %s on %s; generated, do not edit",
                  versions$R, versions$metafor, versions$multilevel, format(Sys.Date()))
data_json <- obj(list(year = vec(d$year), unit = strs(ifelse(is.na(d$unit), "NA", d$unit)),
                      unit_missing = vec(as.numeric(is.na(d$unit))), team = strs(d$team), a1 = vec(d$a1),
                      a2 = vec(d$a2), b1 = vec(d$b1)))
json <- obj(list(header = str1(header), versions = obj(lapply(versions, str1)), data = data_json,
                 A = results$A, B = results$B, bh_keys = strs(keys), bh = vec(bh)))
writeLines(json, "tests/reference/culture_profile.json")
