/* Medians for the C benchmarks (dlopen_bench.c, process_bench.c). */
#ifndef PYENV_BENCH_STATS_H
#define PYENV_BENCH_STATS_H

#include <stdlib.h>

static int bench_compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of v[0..n); sorts v. */
static double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_compare);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
