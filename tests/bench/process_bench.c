/*
 * Two programs started alternately in fresh processes, each run to its end: the medians of
 * their wall times and their ratio. For the whole host process (load the plugin, prepare
 * the job, start the interpreter, make one call) against `python3 -c pass`.
 *
 *   process_bench RUNS BASELINE_ARGV... -- MEASURED_ARGV...
 *
 * Both programs' output goes to /dev/null; a failure of either stops the benchmark.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"

extern char **environ;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Wall seconds of one run of argv; its peak RSS in MiB into *rss. */
static double run(char **argv, double *rss) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  double start = now();
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ) != 0) {
    fprintf(stderr, "process_bench: cannot run %s\n", argv[0]);
    exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  struct rusage usage;
  wait4(pid, &status, 0, &usage);
  double elapsed = now() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "process_bench: %s failed (run it alone to see why)\n", argv[0]);
    exit(1);
  }
  *rss = usage.ru_maxrss / 1024.0;
  return elapsed;
}

int main(int argc, char **argv) {
  int split = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) split = i;
  }
  if (argc < 5 || split < 3 || split == argc - 1) {
    fprintf(stderr, "usage: process_bench RUNS BASELINE_ARGV... -- MEASURED_ARGV...\n");
    return 2;
  }
  int runs = atoi(argv[1]);
  if (runs < 1) runs = 1;
  argv[split] = NULL;
  char **base = argv + 2, **measured = argv + split + 1;
  double *a = calloc((size_t)runs, sizeof *a), *b = calloc((size_t)runs, sizeof *b);
  double rss_a = 0, rss_b = 0;
  run(base, &rss_a); /* once each unmeasured: both start from warm page caches */
  run(measured, &rss_b);
  for (int r = 0; r < runs; ++r) {
    a[r] = run(base, &rss_a);
    b[r] = run(measured, &rss_b);
  }
  double ma = bench_median(a, runs), mb = bench_median(b, runs);
  printf("  %-40s %8.2f ms %6.1f MiB\n", base[0], ma * 1e3, rss_a);
  printf("  %-40s %8.2f ms %6.1f MiB   %.2fx\n", measured[0], mb * 1e3, rss_b, mb / ma);
  free(a);
  free(b);
  return 0;
}
