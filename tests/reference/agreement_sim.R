# Monte Carlo reference for the simulated null distributions of rwg, rwg(j)
# and AD (teamculture.rwg_sim, rwg_j_sim, ad_sim) from R multilevel.
#
# Run from the repository root:
#     Rscript tests/reference/agreement_sim.R
# Writes tests/reference/agreement_sim.json: quantiles of R's simulated
# values (type 7), the share of zeros (truncated rwg) and the empirical CDF
# at a few points of the support (proportions with a binomial standard
# error, the robust comparison for these discrete statistics), with
# sprintf("%.17g").
# These are random draws: the tests compare them with teamculture's own
# simulation within Monte Carlo error, not to machine precision.
suppressPackageStartupMessages({
  library(multilevel)
  library(jsonlite)
})
set.seed(20240415)
num <- function(x) sprintf("%.17g", x)
probs <- c(0.05, 0.25, 0.5, 0.75, 0.9, 0.95)
grid <- function(v) signif(quantile(v, c(0.55, 0.7, 0.8, 0.9, 0.95, 0.98), type = 1, names = FALSE), 6)
summ <- function(v, design) {
  t <- sort(unique(c(grid(v))))
  c(design, list(nrep = length(v), probs = num(probs),
                 quantiles = num(quantile(v, probs, type = 7)),
                 share_zero = num(mean(v == 0)),
                 cdf_at = num(t), cdf = num(sapply(t, function(a) mean(v <= a + 1e-9)))))
}
cm <- matrix(0.5, 5, 5); diag(cm) <- 1
out <- list()
out$rwg <- summ(rwg.sim(gsize = 10, nresp = 5, nrep = 20000)$rwg,
                list(group_size = 10, scale_points = 5, n_items = 1, item_corr = 0))
out$rwg_j_indep <- summ(rwg.j.sim(gsize = 10, nitems = 5, nresp = 5, nrep = 10000)$rwg,
                        list(group_size = 10, scale_points = 5, n_items = 5, item_corr = 0))
out$rwg_j_corr <- summ(rwg.j.sim(gsize = 10, nitems = 5, nresp = 5, itemcors = cm, nrep = 10000)$rwg,
                       list(group_size = 10, scale_points = 5, n_items = 5, item_corr = 0.5))
out$ad <- summ(ad.m.sim(gsize = 10, nitems = 1, nresp = 5, type = "mean", nrep = 3000)$ad.m,
               list(group_size = 10, scale_points = 5, n_items = 1, item_corr = 0))
header <- sprintf("generated, do not edit: %s, multilevel %s, %s", R.version.string,
                  packageVersion("multilevel"), format(Sys.Date()))
writeLines(toJSON(list(header = header, results = out), auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/agreement_sim.json")
