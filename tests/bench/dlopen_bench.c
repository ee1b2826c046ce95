/*
 * What loading the plugin costs a host before any work: dlopen(RTLD_NOW | RTLD_LOCAL) in a
 * fresh process, as a host's first task pays it, for one or more builds of the plugin,
 * alternating between them.
 *
 *   dlopen_bench RUNS PLUGIN [PLUGIN...]
 *
 * Prints, per plugin, the medians of the wall and CPU (user + system) time of the dlopen
 * call and the shared objects it brought in.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
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

static int count_objects(struct dl_phdr_info *info, size_t size, void *data) {
  (void)info;
  (void)size;
  ++*(int *)data;
  return 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

/* The child: one dlopen, measured; prints "wall_ms cpu_ms objects". */
static int child(const char *plugin) {
  int before = 0, after = 0;
  dl_iterate_phdr(count_objects, &before);
  double wall0 = now(), cpu0 = cpu();
  void *lib = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
  double wall1 = now(), cpu1 = cpu();
  if (lib == NULL) {
    fprintf(stderr, "dlopen_bench: %s\n", dlerror());
    return 1;
  }
  dl_iterate_phdr(count_objects, &after);
  printf("%.3f %.3f %d\n", (wall1 - wall0) * 1e3, (cpu1 - cpu0) * 1e3, after - before);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) return child(argv[2]);
  if (argc < 3) {
    fprintf(stderr, "usage: dlopen_bench RUNS PLUGIN [PLUGIN...]\n");
    return 2;
  }
  int runs = atoi(argv[1]), plugins = argc - 2;
  if (runs < 1) runs = 1;
  double *wall = calloc((size_t)(runs * plugins), sizeof *wall);
  double *cpu_ms = calloc((size_t)(runs * plugins), sizeof *cpu_ms);
  int *objects = calloc((size_t)plugins, sizeof *objects);
  for (int r = 0; r < runs; ++r) {
    for (int p = 0; p < plugins; ++p) {
      int fds[2];
      if (pipe(fds) != 0) return 1;
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
      posix_spawn_file_actions_addclose(&actions, fds[0]);
      char *args[] = {"/proc/self/exe", "--child", argv[2 + p], NULL};
      pid_t pid;
      if (posix_spawn(&pid, args[0], &actions, NULL, args, environ) != 0) return 1;
      posix_spawn_file_actions_destroy(&actions);
      close(fds[1]);
      char line[128] = {0};
      ssize_t n = read(fds[0], line, sizeof line - 1);
      close(fds[0]);
      int status = 0;
      waitpid(pid, &status, 0);
      if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
          sscanf(line, "%lf %lf %d", &wall[p * runs + r], &cpu_ms[p * runs + r], &objects[p]) !=
              3) {
        fprintf(stderr, "dlopen_bench: the child for %s failed\n", argv[2 + p]);
        return 1;
      }
    }
  }
  printf("dlopen of the plugin in a fresh process, %d alternating runs, medians\n", runs);
  for (int p = 0; p < plugins; ++p) {
    printf("  %-60s %7.2f ms wall %7.2f ms CPU %3d shared objects loaded\n", argv[2 + p],
           bench_median(wall + p * runs, runs), bench_median(cpu_ms + p * runs, runs), objects[p]);
  }
  free(wall);
  free(cpu_ms);
  free(objects);
  return 0;
}
