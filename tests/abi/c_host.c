/*
 * c_host: a plain C99 host, written against DESIGN.md section 2 alone, proving that the C ABI
 * suffices without any C++. It runs conformance cases C1 (executable) and C5 (open/close).
 *
 * usage: c_host <path of libpyenv.so>
 * Exits 0 when every check passes; otherwise prints each failed check and exits 1.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <pyenv/pyenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int g_failures = 0;

#define CHECK(condition)                                                            \
  do {                                                                              \
    if (!(condition)) {                                                             \
      ++g_failures;                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
    }                                                                               \
  } while (0)

/* NULL-safe string comparison: both NULL, or both equal. */
static int same(const char *a, const char *b) {
  if (a == NULL || b == NULL) return a == b;
  return strcmp(a, b) == 0;
}

static struct {
  uint32_t (*abi_version)(void);
  const char *(*last_error)(void);
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *);
  pyenv_status (*open)(pyenv_manager *);
  pyenv_status (*create_environment)(pyenv_manager *, pyenv_environment **);
  pyenv_status (*close)(pyenv_manager **);
  int (*exec_type)(const pyenv_environment *);
  const char *(*python_exec)(const pyenv_environment *);
  const char *(*python_home)(const pyenv_environment *);
  const char *(*working_directory)(const pyenv_environment *);
  size_t (*path_count)(const pyenv_environment *);
  const char *(*path_at)(const pyenv_environment *, size_t);
  size_t (*var_count)(const pyenv_environment *);
  pyenv_status (*var_at)(const pyenv_environment *, size_t, const char **, const char **);
  const char *(*getenv)(const pyenv_environment *, const char *);
  void (*environment_free)(pyenv_environment **);
} api;

/* ISO C cannot convert void * to a function pointer; POSIX guarantees the bytes match. */
static int resolve(void *library, const char *name, void *slot, size_t size) {
  void *symbol = dlsym(library, name);
  if (symbol == NULL) {
    fprintf(stderr, "c_host: the plugin does not export %s\n", name);
    return 0;
  }
  memcpy(slot, &symbol, size);
  return 1;
}

#define RESOLVE(library, field, name) resolve(library, name, &api.field, sizeof api.field)

static int load(void *library) {
  return RESOLVE(library, abi_version, "pyenv_abi_version") &&
         RESOLVE(library, last_error, "pyenv_last_error") &&
         RESOLVE(library, create, "pyenv_create") && RESOLVE(library, open, "pyenv_open") &&
         RESOLVE(library, create_environment, "pyenv_create_environment") &&
         RESOLVE(library, close, "pyenv_close") &&
         RESOLVE(library, exec_type, "pyenv_environment_exec_type") &&
         RESOLVE(library, python_exec, "pyenv_environment_python_exec") &&
         RESOLVE(library, python_home, "pyenv_environment_python_home") &&
         RESOLVE(library, working_directory, "pyenv_environment_working_directory") &&
         RESOLVE(library, path_count, "pyenv_environment_path_count") &&
         RESOLVE(library, path_at, "pyenv_environment_path_at") &&
         RESOLVE(library, var_count, "pyenv_environment_var_count") &&
         RESOLVE(library, var_at, "pyenv_environment_var_at") &&
         RESOLVE(library, getenv, "pyenv_environment_getenv") &&
         RESOLVE(library, environment_free, "pyenv_environment_free");
}

/* The path of the one python-dist-* entry in `dir` (caller frees), or NULL when there is
 * not exactly one. `*count` receives how many there are. */
static char *find_base_dir(const char *dir, int *count) {
  char *found = NULL;
  DIR *d = opendir(dir);
  struct dirent *entry;
  *count = 0;
  if (d == NULL) return NULL;
  while ((entry = readdir(d)) != NULL) {
    if (strncmp(entry->d_name, "python-dist-", 12) != 0) continue;
    ++*count;
    free(found);
    found = malloc(strlen(dir) + 1 + strlen(entry->d_name) + 1);
    if (found != NULL) sprintf(found, "%s/%s", dir, entry->d_name);
  }
  closedir(d);
  if (*count != 1) {
    free(found);
    return NULL;
  }
  return found;
}

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

static void run_c1_c5(const char *tmp_dir) {
  const char *tmp_dirs[1];
  pyenv_options options;
  pyenv_manager *manager = NULL;
  pyenv_environment *env = NULL;
  pyenv_status status;
  char *base = NULL;
  int count = 0;
  const char *key = NULL;
  const char *value = NULL;

  tmp_dirs[0] = tmp_dir;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.job_id = "c-host-job";
  options.tmp_dirs = tmp_dirs;
  options.tmp_dirs_count = 1;
  options.config_yaml = "python.executable: /usr/local/bin/python\n";
  options.system_env = NULL; /* C1: an empty system environment */
  options.system_env_count = 0;

  status = api.create(&manager, &options);
  if (status != PYENV_OK) {
    fprintf(stderr, "c_host: pyenv_create: %d: %s\n", (int)status, api.last_error());
    ++g_failures;
    return;
  }
  /* pyenv_create touches no disk. */
  find_base_dir(tmp_dir, &count);
  CHECK(count == 0);

  status = api.open(manager);
  if (status != PYENV_OK) {
    fprintf(stderr, "c_host: pyenv_open: %d: %s\n", (int)status, api.last_error());
    ++g_failures;
    api.close(&manager);
    return;
  }
  /* C5: after open the base dir is a directory in the tmp dir. */
  base = find_base_dir(tmp_dir, &count);
  CHECK(count == 1);
  CHECK(base != NULL && is_directory(base));

  status = api.create_environment(manager, &env);
  if (status != PYENV_OK) {
    fprintf(stderr, "c_host: pyenv_create_environment: %d: %s\n", (int)status, api.last_error());
    ++g_failures;
  } else {
    /* C1: the map is exactly the basic env with python = /usr/local/bin/python, sorted. */
    static const char *const kKeys[] = {"BOOT_LOG_DIR", "PYFLINK_GATEWAY_DISABLED", "python"};
    const char *values[3];
    size_t i;
    values[0] = base;
    values[1] = "true";
    values[2] = "/usr/local/bin/python";
    CHECK(api.var_count(env) == 3);
    for (i = 0; i < 3 && i < api.var_count(env); ++i) {
      CHECK(api.var_at(env, i, &key, &value) == PYENV_OK);
      if (!same(key, kKeys[i]) || !same(value, values[i])) {
        ++g_failures;
        fprintf(stderr, "c_host: variable %u is %s=%s, expected %s=%s\n", (unsigned)i,
                key ? key : "(null)", value ? value : "(null)", kKeys[i],
                values[i] ? values[i] : "(null)");
      }
    }
    CHECK(api.getenv(env, "PYTHONPATH") == NULL);
    CHECK(same(api.getenv(env, "python"), "/usr/local/bin/python"));
    CHECK(same(api.python_exec(env), "/usr/local/bin/python"));
    CHECK(api.exec_type(env) == 0);
    CHECK(api.python_home(env) == NULL);
    CHECK(api.working_directory(env) == NULL);
    CHECK(api.path_count(env) == 0);
    CHECK(api.path_at(env, 0) == NULL);
  }

  /* C5: after close the base dir is gone and the handle is NULL. */
  status = api.close(&manager);
  if (status != PYENV_OK) fprintf(stderr, "c_host: pyenv_close: %s\n", api.last_error());
  CHECK(status == PYENV_OK);
  CHECK(manager == NULL);
  CHECK(base != NULL && !is_directory(base));
  find_base_dir(tmp_dir, &count);
  CHECK(count == 0);

  /* An environment is a value: it outlives its manager. */
  CHECK(env == NULL || same(api.python_exec(env), "/usr/local/bin/python"));
  api.environment_free(&env);
  CHECK(env == NULL);

  /* C5: closing again, through a NULL handle or a NULL pointer, is fine. */
  CHECK(api.close(&manager) == PYENV_OK);
  CHECK(api.close(NULL) == PYENV_OK);
  free(base);
}

int main(int argc, char **argv) {
  void *library;
  const char *tmp_base;
  uint32_t version;
  char tmp_dir[4096];

  if (argc != 2) {
    fprintf(stderr, "usage: c_host <libpyenv.so>\n");
    return 2;
  }
  library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "c_host: cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  if (!load(library)) return 1;
  /* Refuse another ABI before any other call, as a real host must. With the same major, an
   * older minor is exactly a smaller version number. */
  version = api.abi_version();
  if ((version >> 16) != PYENV_ABI_VERSION_MAJOR || version < PYENV_ABI_VERSION) {
    fprintf(stderr, "c_host: plugin ABI %u.%u, need %d.%d\n", (unsigned)(version >> 16),
            (unsigned)(version & 0xffffu), PYENV_ABI_VERSION_MAJOR, PYENV_ABI_VERSION_MINOR);
    return 1;
  }

  /* The plugin spells its base dir as <tmp dir>/python-dist-*, normalised; so must we. */
  tmp_base = getenv("TMPDIR");
  if (tmp_base == NULL || *tmp_base == '\0') tmp_base = "/tmp";
  snprintf(tmp_dir, sizeof tmp_dir, "%s", tmp_base);
  while (strlen(tmp_dir) > 0 && tmp_dir[strlen(tmp_dir) - 1] == '/')
    tmp_dir[strlen(tmp_dir) - 1] = '\0';
  snprintf(tmp_dir + strlen(tmp_dir), sizeof tmp_dir - strlen(tmp_dir), "/pyenv-c-host-XXXXXX");
  if (mkdtemp(tmp_dir) == NULL) {
    perror("c_host: mkdtemp");
    return 1;
  }
  run_c1_c5(tmp_dir);
  /* After C5 the tmp dir must be empty again, so rmdir alone has to work. */
  if (rmdir(tmp_dir) != 0) {
    ++g_failures;
    fprintf(stderr, "c_host: %s is not empty after close\n", tmp_dir);
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  dlclose(library);

  if (g_failures != 0) {
    fprintf(stderr, "c_host: %d check(s) failed\n", g_failures);
    return 1;
  }
  printf("c_host: C1 and C5 passed\n");
  return 0;
}
