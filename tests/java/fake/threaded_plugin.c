/*
 * A stand-in for libpyenv whose pyenv_open calls the log and progress callbacks from threads
 * of its own, as the contract allows ("any thread that is inside a pyenv_ call"): the real
 * plugin happens to call them from the opening thread only, so this is what shows that the
 * JNI layer attaches and detaches foreign threads and keeps their exceptions out of C.
 * Everything else is a minimal, working ABI of this header's version, whose interpreter
 * handles echo their records (call_bytes, call_batch). Built with FAKE_ABI_MINOR=1 it is a
 * plugin of ABI 1.1, without pyenv_interpreter_call_batch: an older plugin, whose host must
 * refuse the later call by name and version, not crash on it.
 */
#include <pthread.h>
#include <pyenv/pyenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

#ifndef FAKE_ABI_MINOR
#define FAKE_ABI_MINOR PYENV_ABI_VERSION_MINOR
#endif

enum { kThreads = 4, kLines = 50 };

struct pyenv_manager {
  int opened;
  pyenv_log_fn log;
  void *log_user;
  pyenv_progress_fn progress;
  void *progress_user;
};

struct pyenv_environment {
  int unused;
};

struct pyenv_interpreter {
  int unused;
};

static _Thread_local const char *t_last_error = "no error";

static pyenv_status fail(pyenv_status status, const char *message) {
  t_last_error = message;
  return status;
}

FAKE_EXPORT uint32_t pyenv_abi_version(void) {
  return ((uint32_t)PYENV_ABI_VERSION_MAJOR << 16) | FAKE_ABI_MINOR;
}
FAKE_EXPORT const char *pyenv_version(void) { return "0.0.0-threaded-fake"; }
FAKE_EXPORT const char *pyenv_last_error(void) { return t_last_error; }

FAKE_EXPORT pyenv_status pyenv_create(pyenv_manager **out, const pyenv_options *options) {
  if (out == NULL || options == NULL) return fail(PYENV_EINVAL, "fake: NULL argument");
  *out = NULL;
  struct pyenv_manager *m = calloc(1, sizeof *m);
  if (m == NULL) return fail(PYENV_ENOMEM, "out of memory");
  m->log = options->log;
  m->log_user = options->log_user;
  m->progress = options->progress;
  m->progress_user = options->progress_user;
  *out = m;
  return PYENV_OK;
}

struct worker {
  struct pyenv_manager *manager;
  int index;
};

static void *work(void *arg) {
  struct worker *w = arg;
  char line[64];
  for (int i = 1; i <= kLines; ++i) {
    snprintf(line, sizeof line, "worker %d line %d", w->index, i);
    if (w->manager->log) w->manager->log(w->manager->log_user, 1, line);
    if (w->manager->progress) w->manager->progress(w->manager->progress_user, "threads", i, kLines);
  }
  return NULL;
}

FAKE_EXPORT pyenv_status pyenv_open(pyenv_manager *m) {
  if (m == NULL) return fail(PYENV_EINVAL, "fake: NULL manager");
  if (m->opened) return fail(PYENV_ESTATE, "fake: already open");
  pthread_t threads[kThreads];
  struct worker workers[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    workers[i].manager = m;
    workers[i].index = i;
    if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
      for (int j = 0; j < i; ++j) pthread_join(threads[j], NULL);
      return fail(PYENV_ERROR, "fake: pthread_create failed");
    }
  }
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  m->opened = 1;
  return PYENV_OK;
}

FAKE_EXPORT pyenv_status pyenv_create_environment(pyenv_manager *m, pyenv_environment **out) {
  if (out == NULL) return fail(PYENV_EINVAL, "fake: NULL out");
  *out = NULL;
  if (m == NULL || !m->opened) return fail(PYENV_ESTATE, "fake: not open");
  *out = calloc(1, sizeof **out);
  return *out ? PYENV_OK : fail(PYENV_ENOMEM, "out of memory");
}

FAKE_EXPORT pyenv_status pyenv_close(pyenv_manager **m) {
  if (m != NULL) {
    free(*m);
    *m = NULL;
  }
  return PYENV_OK;
}

FAKE_EXPORT int pyenv_environment_exec_type(const pyenv_environment *e) { return e ? 0 : 0; }
FAKE_EXPORT const char *pyenv_environment_python_exec(const pyenv_environment *e) {
  return e ? "/fake/python" : NULL;
}
FAKE_EXPORT const char *pyenv_environment_python_home(const pyenv_environment *e) {
  (void)e;
  return NULL;
}
FAKE_EXPORT const char *pyenv_environment_working_directory(const pyenv_environment *e) {
  (void)e;
  return NULL;
}
FAKE_EXPORT size_t pyenv_environment_path_count(const pyenv_environment *e) {
  (void)e;
  return 0;
}
FAKE_EXPORT const char *pyenv_environment_path_at(const pyenv_environment *e, size_t i) {
  (void)e;
  (void)i;
  return NULL;
}
FAKE_EXPORT size_t pyenv_environment_var_count(const pyenv_environment *e) {
  (void)e;
  return 0;
}
FAKE_EXPORT pyenv_status pyenv_environment_var_at(const pyenv_environment *e, size_t i,
                                                  const char **key, const char **value) {
  (void)e;
  (void)i;
  if (key) *key = NULL;
  if (value) *value = NULL;
  return fail(PYENV_EINVAL, "fake: no variables");
}
FAKE_EXPORT const char *pyenv_environment_getenv(const pyenv_environment *e, const char *key) {
  (void)e;
  (void)key;
  return NULL;
}
FAKE_EXPORT const char *pyenv_environment_to_json(const pyenv_environment *e) {
  return e ? "{\"fake\": true}" : NULL;
}
FAKE_EXPORT void pyenv_environment_free(pyenv_environment **e) {
  if (e != NULL) {
    free(*e);
    *e = NULL;
  }
}
FAKE_EXPORT pyenv_status pyenv_environment_get_interpreter(const pyenv_environment *e,
                                                           pyenv_interpreter **out) {
  if (out == NULL) return fail(PYENV_EINVAL, "fake: NULL out");
  *out = NULL;
  if (e == NULL) return fail(PYENV_EINVAL, "fake: NULL environment");
  *out = calloc(1, sizeof **out);
  return *out ? PYENV_OK : fail(PYENV_ENOMEM, "out of memory");
}
FAKE_EXPORT pyenv_status pyenv_interpreter_exec(pyenv_interpreter *i, const char *code) {
  (void)i;
  (void)code;
  return fail(PYENV_EPYTHON, "fake: no Python here");
}
FAKE_EXPORT pyenv_status pyenv_interpreter_call_json(pyenv_interpreter *i, const char *callable,
                                                     const char *args, char **out) {
  (void)i;
  (void)callable;
  (void)args;
  if (out) *out = NULL;
  return fail(PYENV_EPYTHON, "fake: no Python here");
}
FAKE_EXPORT pyenv_status pyenv_interpreter_call_bytes(pyenv_interpreter *i, const char *callable,
                                                      const void *data, size_t size, void **out,
                                                      size_t *out_size) {
  if (out) *out = NULL;
  if (out_size) *out_size = 0;
  if (i == NULL || callable == NULL || out == NULL || out_size == NULL || (size && !data)) {
    return fail(PYENV_EINVAL, "fake: NULL argument");
  }
  char *copy = malloc(size > 0 ? size : 1);
  if (copy == NULL) return fail(PYENV_ENOMEM, "out of memory");
  if (size > 0) memcpy(copy, data, size);
  *out = copy;
  *out_size = size;
  return PYENV_OK;
}
FAKE_EXPORT void pyenv_free(void *p) { free(p); }
FAKE_EXPORT void pyenv_interpreter_close(pyenv_interpreter **i) {
  if (i) {
    free(*i);
    *i = NULL;
  }
}

FAKE_EXPORT pyenv_status pyenv_interpreter_info(pyenv_interpreter *i, char **out_json) {
  (void)i;
  if (out_json) *out_json = NULL;
  return fail(PYENV_EPYTHON, "fake: no Python here");
}

#if FAKE_ABI_MINOR >= 2
/* The records echoed, in one allocation: the table, then the bytes, as the contract says. */
FAKE_EXPORT pyenv_status pyenv_interpreter_call_batch(pyenv_interpreter *i, const char *callable,
                                                      const pyenv_record *records, size_t count,
                                                      pyenv_record **out_results) {
  if (out_results) *out_results = NULL;
  if (i == NULL || callable == NULL || out_results == NULL || (count && !records)) {
    return fail(PYENV_EINVAL, "fake: NULL argument");
  }
  size_t total = 0;
  for (size_t r = 0; r < count; ++r) total += records[r].size;
  pyenv_record *out = malloc(count * sizeof *out + total + 1);
  if (out == NULL) return fail(PYENV_ENOMEM, "out of memory");
  char *bytes = (char *)(out + count);
  for (size_t r = 0; r < count; ++r) {
    if (records[r].size > 0) memcpy(bytes, records[r].data, records[r].size);
    out[r].data = bytes;
    out[r].size = records[r].size;
    bytes += records[r].size;
  }
  *out_results = out;
  return PYENV_OK;
}
#endif
