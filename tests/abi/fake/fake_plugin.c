/*
 * A tiny stand-in for libpyenv, built once per failure mode the host loader must handle.
 * Compile definitions pick the mode:
 *   FAKE_ABI_VERSION    what pyenv_abi_version() returns (default: this header's version)
 *   FAKE_OMIT_OPEN      do not export pyenv_open
 *   FAKE_CREATE_FAILS   pyenv_create fails with PYENV_ECONFIG and a specific message
 *   FAKE_ABI_1_0        a plugin of ABI 1.0: what 1.1 added is not exported
 * Otherwise it is a working plugin whose environment echoes the options it was given, so
 * the loader tests can check what host.hpp passed through.
 */
#include <pyenv/pyenv.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

#ifndef FAKE_ABI_VERSION
#ifdef FAKE_ABI_1_0
#define FAKE_ABI_VERSION (1u << 16)
#else
#define FAKE_ABI_VERSION PYENV_ABI_VERSION
#endif
#endif

/* The message of FAKE_CREATE_FAILS: tests compare against it verbatim. */
#define FAKE_CREATE_ERROR "fake: python.files[0]: \"missing.py\": no such file"

enum { kMaxText = 256, kVarCount = 2 };

struct pyenv_manager {
  int opened;
  char job_id[kMaxText];
  char tmp_dir[kMaxText];
  pyenv_log_fn log;
  void *log_user;
  pyenv_progress_fn progress;
  void *progress_user;
};

/* Sorted by key, as the contract requires. */
struct pyenv_environment {
  char keys[kVarCount][kMaxText];
  char values[kVarCount][kMaxText];
};

/* Single-threaded tests only: no need for thread_local here. */
static const char *g_last_error = "no error";

static pyenv_status fail(pyenv_status status, const char *message) {
  g_last_error = message;
  return status;
}

static void copy_text(char *to, const char *from) {
  strncpy(to, from ? from : "", kMaxText - 1);
  to[kMaxText - 1] = '\0';
}

FAKE_EXPORT uint32_t pyenv_abi_version(void) { return FAKE_ABI_VERSION; }

FAKE_EXPORT const char *pyenv_version(void) { return "0.0.0-fake"; }

FAKE_EXPORT const char *pyenv_last_error(void) { return g_last_error; }

FAKE_EXPORT pyenv_status pyenv_create(pyenv_manager **out, const pyenv_options *options) {
  if (out == NULL) return fail(PYENV_EINVAL, "fake: out must not be NULL");
  *out = NULL;
#ifdef FAKE_CREATE_FAILS
  (void)options;
  return fail(PYENV_ECONFIG, FAKE_CREATE_ERROR);
#else
  if (options == NULL || options->struct_size != sizeof(pyenv_options)) {
    return fail(PYENV_EINVAL, "fake: options missing or of another size");
  }
  if (options->tmp_dirs_count == 0) return fail(PYENV_EINVAL, "fake: no tmp dirs");
  struct pyenv_manager *m = calloc(1, sizeof *m);
  if (m == NULL) return fail(PYENV_ENOMEM, "out of memory");
  copy_text(m->job_id, options->job_id);
  copy_text(m->tmp_dir, options->tmp_dirs[0]);
  m->log = options->log;
  m->log_user = options->log_user;
  m->progress = options->progress;
  m->progress_user = options->progress_user;
  *out = m;
  return PYENV_OK;
#endif
}

#ifndef FAKE_OMIT_OPEN
FAKE_EXPORT pyenv_status pyenv_open(pyenv_manager *manager) {
  if (manager == NULL) return fail(PYENV_EINVAL, "fake: manager must not be NULL");
  if (manager->opened) return fail(PYENV_ESTATE, "fake: already open");
  manager->opened = 1;
  /* Exercises the host's callback trampolines. */
  if (manager->log) manager->log(manager->log_user, 1, "fake: opened");
  if (manager->progress) manager->progress(manager->progress_user, "files", 1, 1);
  return PYENV_OK;
}
#endif

FAKE_EXPORT pyenv_status pyenv_create_environment(pyenv_manager *manager, pyenv_environment **out) {
  struct pyenv_environment *env;
  if (out == NULL) return fail(PYENV_EINVAL, "fake: out must not be NULL");
  *out = NULL;
  if (manager == NULL) return fail(PYENV_EINVAL, "fake: manager must not be NULL");
  if (!manager->opened) return fail(PYENV_ESTATE, "fake: not open");
  env = calloc(1, sizeof *env);
  if (env == NULL) return fail(PYENV_ENOMEM, "out of memory");
  copy_text(env->keys[0], "JOB_ID");
  copy_text(env->values[0], manager->job_id);
  copy_text(env->keys[1], "TMP_DIR");
  copy_text(env->values[1], manager->tmp_dir);
  *out = env;
  return PYENV_OK;
}

FAKE_EXPORT pyenv_status pyenv_close(pyenv_manager **manager) {
  if (manager == NULL || *manager == NULL) return PYENV_OK;
  free(*manager);
  *manager = NULL;
  return PYENV_OK;
}

FAKE_EXPORT int pyenv_environment_exec_type(const pyenv_environment *env) {
  (void)env;
  return 0;
}

FAKE_EXPORT const char *pyenv_environment_python_exec(const pyenv_environment *env) {
  return env ? "/fake/bin/python" : NULL;
}

FAKE_EXPORT const char *pyenv_environment_python_home(const pyenv_environment *env) {
  return env ? "/fake" : NULL;
}

FAKE_EXPORT const char *pyenv_environment_working_directory(const pyenv_environment *env) {
  (void)env;
  return NULL;
}

FAKE_EXPORT size_t pyenv_environment_path_count(const pyenv_environment *env) {
  return env ? 1 : 0;
}

FAKE_EXPORT const char *pyenv_environment_path_at(const pyenv_environment *env, size_t i) {
  return env && i == 0 ? "/fake/lib" : NULL;
}

FAKE_EXPORT size_t pyenv_environment_var_count(const pyenv_environment *env) {
  return env ? kVarCount : 0;
}

FAKE_EXPORT pyenv_status pyenv_environment_var_at(const pyenv_environment *env, size_t i,
                                                  const char **key, const char **value) {
  if (key) *key = NULL;
  if (value) *value = NULL;
  if (env == NULL || key == NULL || value == NULL || i >= kVarCount) {
    return fail(PYENV_EINVAL, "fake: bad var_at arguments");
  }
  *key = env->keys[i];
  *value = env->values[i];
  return PYENV_OK;
}

FAKE_EXPORT const char *pyenv_environment_getenv(const pyenv_environment *env, const char *key) {
  size_t i;
  if (env == NULL || key == NULL) return NULL;
  for (i = 0; i < kVarCount; ++i) {
    if (strcmp(env->keys[i], key) == 0) return env->values[i];
  }
  return NULL;
}

FAKE_EXPORT const char *pyenv_environment_to_json(const pyenv_environment *env) {
  return env ? "{\"fake\": true}" : NULL;
}

FAKE_EXPORT void pyenv_environment_free(pyenv_environment **env) {
  if (env == NULL) return;
  free(*env);
  *env = NULL;
}

/* The interpreter functions: present so the loader accepts the fake; never started. */
FAKE_EXPORT pyenv_status pyenv_environment_get_interpreter(const pyenv_environment *env,
                                                           pyenv_interpreter **out) {
  (void)env;
  if (out) *out = NULL;
  return fail(PYENV_EPYTHON, "fake: no interpreter");
}

FAKE_EXPORT pyenv_status pyenv_interpreter_exec(pyenv_interpreter *interp, const char *code) {
  (void)interp;
  (void)code;
  return fail(PYENV_EPYTHON, "fake: no interpreter");
}

FAKE_EXPORT pyenv_status pyenv_interpreter_call_json(pyenv_interpreter *interp,
                                                     const char *callable, const char *args,
                                                     char **out) {
  (void)interp;
  (void)callable;
  (void)args;
  if (out) *out = NULL;
  return fail(PYENV_EPYTHON, "fake: no interpreter");
}

FAKE_EXPORT pyenv_status pyenv_interpreter_call_bytes(pyenv_interpreter *interp,
                                                      const char *callable, const void *data,
                                                      size_t size, void **out, size_t *out_size) {
  (void)interp;
  (void)callable;
  (void)data;
  (void)size;
  if (out) *out = NULL;
  if (out_size) *out_size = 0;
  return fail(PYENV_EPYTHON, "fake: no interpreter");
}

FAKE_EXPORT void pyenv_free(void *p) { free(p); }

FAKE_EXPORT void pyenv_interpreter_close(pyenv_interpreter **interp) {
  if (interp) *interp = NULL;
}

#ifndef FAKE_ABI_1_0
/* ABI 1.1 */
FAKE_EXPORT pyenv_status pyenv_interpreter_info(pyenv_interpreter *interp, char **out_json) {
  (void)interp;
  if (out_json) *out_json = NULL;
  return fail(PYENV_EPYTHON, "fake: no interpreter");
}

/* ABI 1.1: the cache functions answer with a JSON naming themselves. */
static pyenv_status fake_json(const char *text, char **out) {
  *out = malloc(strlen(text) + 1);
  if (*out == NULL) return fail(PYENV_ENOMEM, "fake: no memory");
  strcpy(*out, text);
  return PYENV_OK;
}

FAKE_EXPORT pyenv_status pyenv_cache_list(pyenv_manager *manager, char **out_json) {
  (void)manager;
  return fake_json("{\"fake\": \"list\"}", out_json);
}

FAKE_EXPORT pyenv_status pyenv_cache_warm(pyenv_manager *manager) {
  (void)manager;
  return PYENV_OK;
}

FAKE_EXPORT pyenv_status pyenv_cache_prune(pyenv_manager *manager, uint64_t max_bytes,
                                           uint64_t older_than_ms, char **out_json) {
  (void)manager;
  (void)max_bytes;
  (void)older_than_ms;
  return fake_json("{\"fake\": \"prune\"}", out_json);
}

FAKE_EXPORT pyenv_status pyenv_cache_remove(pyenv_manager *manager, const char *key_prefix,
                                            char **out_json) {
  (void)manager;
  (void)key_prefix;
  return fake_json("{\"fake\": \"remove\"}", out_json);
}

/* ABI 1.2: a batch of one answer, "fake", whatever it is given. */
FAKE_EXPORT pyenv_status pyenv_interpreter_call_batch(pyenv_interpreter *interp,
                                                      const char *callable,
                                                      const pyenv_record *records, size_t count,
                                                      pyenv_record **out_results) {
  pyenv_record *out;
  (void)interp;
  (void)callable;
  (void)records;
  (void)count;
  out = malloc(sizeof(pyenv_record) + 4);
  if (out == NULL) return fail(PYENV_ENOMEM, "fake: no memory");
  memcpy((char *)(out + 1), "fake", 4);
  out->data = out + 1;
  out->size = 4;
  *out_results = out;
  return PYENV_OK;
}
#endif
