/*
 * example_host: a minimal host for libpyenv, in C99 against pyenv.h alone.
 *
 *   example_host CONFIG.yaml                        prints the job's environment as JSON
 *   example_host CONFIG.yaml MODULE:FUNCTION RECORD  ... then calls FUNCTION(RECORD bytes)
 *                                                    in the embedded Python, prints its result
 *
 * The plugin it loads is the one the installed package names: its path is compiled in as
 * PYENV_PLUGIN_PATH, taken from find_package(pyenv) ($<TARGET_FILE:pyenv::plugin>) or from
 * `pkg-config --variable=plugin pyenv` (see CMakeLists.txt and build-with-pkg-config.sh).
 * PYENV_PLUGIN in the environment overrides it.
 */
#include <dlfcn.h>
#include <pyenv/pyenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PYENV_PLUGIN_PATH
#error "build with -DPYENV_PLUGIN_PATH=\"<path of libpyenv.so>\", as the package gives it"
#endif

extern char **environ;

/* The functions this host calls, resolved from the plugin with dlsym. */
static struct {
  uint32_t (*abi_version)(void);
  const char *(*version)(void);
  const char *(*last_error)(void);
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *);
  pyenv_status (*open)(pyenv_manager *);
  pyenv_status (*create_environment)(pyenv_manager *, pyenv_environment **);
  pyenv_status (*close)(pyenv_manager **);
  const char *(*environment_to_json)(const pyenv_environment *);
  void (*environment_free)(pyenv_environment **);
  pyenv_status (*get_interpreter)(const pyenv_environment *, pyenv_interpreter **);
  pyenv_status (*call_bytes)(pyenv_interpreter *, const char *, const void *, size_t, void **,
                             size_t *);
  void (*free)(void *);
  void (*interpreter_close)(pyenv_interpreter **);
} pyenv;

/* ISO C cannot convert void * to a function pointer; POSIX guarantees the bytes match. */
static int resolve(void *library, const char *name, void *slot, size_t size) {
  void *symbol = dlsym(library, name);
  if (symbol == NULL) {
    fprintf(stderr, "example_host: the plugin does not export %s\n", name);
    return 0;
  }
  memcpy(slot, &symbol, size);
  return 1;
}
#define RESOLVE(lib, field, name) resolve(lib, name, &pyenv.field, sizeof pyenv.field)

/* The minor this host needs: by default the header's. (The benchmark's build sets 0, to load
   an ABI 1.0 plugin beside the current one: this host calls nothing newer.) */
#ifndef EXAMPLE_HOST_NEEDS_MINOR
#define EXAMPLE_HOST_NEEDS_MINOR PYENV_ABI_VERSION_MINOR
#endif

static int load(void *lib) {
  /* The ABI version first: a plugin of another major may not have the other symbols. */
  if (!RESOLVE(lib, abi_version, "pyenv_abi_version")) return 0;
  uint32_t found = pyenv.abi_version();
  /* The same major, and a minor at least the one it needs. */
  if (found >> 16 != PYENV_ABI_VERSION_MAJOR || (found & 0xffffu) < EXAMPLE_HOST_NEEDS_MINOR) {
    fprintf(stderr,
            "example_host: the plugin has ABI %u.%u; this host needs %d.%d or a later "
            "minor\n",
            (unsigned)(found >> 16), (unsigned)(found & 0xffffu), PYENV_ABI_VERSION_MAJOR,
            EXAMPLE_HOST_NEEDS_MINOR);
    return 0;
  }
  return RESOLVE(lib, version, "pyenv_version") && RESOLVE(lib, last_error, "pyenv_last_error") &&
         RESOLVE(lib, create, "pyenv_create") && RESOLVE(lib, open, "pyenv_open") &&
         RESOLVE(lib, create_environment, "pyenv_create_environment") &&
         RESOLVE(lib, close, "pyenv_close") &&
         RESOLVE(lib, environment_to_json, "pyenv_environment_to_json") &&
         RESOLVE(lib, environment_free, "pyenv_environment_free") &&
         RESOLVE(lib, get_interpreter, "pyenv_environment_get_interpreter") &&
         RESOLVE(lib, call_bytes, "pyenv_interpreter_call_bytes") &&
         RESOLVE(lib, free, "pyenv_free") &&
         RESOLVE(lib, interpreter_close, "pyenv_interpreter_close");
}

/* The plugin's log lines, info and above, on stderr; stdout carries only results. */
static void log_line(void *user, int level, const char *message) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  (void)user;
  if (level >= 1) fprintf(stderr, "pyenv %s: %s\n", names[level & 3], message);
}

static int failed(const char *step, pyenv_status status) {
  fprintf(stderr, "example_host: %s: %s (status %d)\n", step, pyenv.last_error(), (int)status);
  return 1;
}

/* Prepares the environment of the job CONFIG describes, prints it, and optionally calls
   FUNCTION on RECORD. Returns the process's exit status. */
static int run(const char *config, const char *function, const char *record) {
  const char *tmp = getenv("TMPDIR");
  const char *tmp_dirs[1];
  size_t env_count = 0;
  pyenv_options options;
  pyenv_manager *manager = NULL;
  pyenv_environment *env = NULL;
  pyenv_interpreter *interp = NULL;
  pyenv_status status;
  int rc = 1;

  tmp_dirs[0] = tmp != NULL && *tmp != '\0' ? tmp : "/tmp";
  while (environ[env_count] != NULL) ++env_count;

  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options; /* tells the plugin which fields this host knows */
  options.job_id = "example-host";
  options.tmp_dirs = tmp_dirs;
  options.tmp_dirs_count = 1;
  options.config_file = config;
  options.system_env = (const char *const *)environ;
  options.system_env_count = env_count;
  options.log = log_line;

  if ((status = pyenv.create(&manager, &options)) != PYENV_OK) return failed("create", status);
  if ((status = pyenv.open(manager)) != PYENV_OK) {
    failed("open", status);
    goto done;
  }
  if ((status = pyenv.create_environment(manager, &env)) != PYENV_OK) {
    failed("create_environment", status);
    goto done;
  }
  printf("%s\n", pyenv.environment_to_json(env));

  if (function != NULL) {
    void *out = NULL;
    size_t out_size = 0;
    if ((status = pyenv.get_interpreter(env, &interp)) != PYENV_OK) {
      failed("get_interpreter", status);
      goto done;
    }
    status = pyenv.call_bytes(interp, function, record, strlen(record), &out, &out_size);
    if (status != PYENV_OK) {
      failed(function, status);
      goto done;
    }
    printf("%s(%s) = %.*s\n", function, record, (int)out_size, (const char *)out);
    pyenv.free(out);
  }
  rc = 0;

done:
  /* Interpreters before their manager: the last close removes the job's files. */
  pyenv.interpreter_close(&interp);
  pyenv.environment_free(&env);
  if ((status = pyenv.close(&manager)) != PYENV_OK) rc = failed("close", status);
  return rc;
}

int main(int argc, char **argv) {
  const char *plugin = getenv("PYENV_PLUGIN");
  void *lib;
  int rc;

  if (argc != 2 && argc != 4) {
    fprintf(stderr, "usage: %s CONFIG.yaml [MODULE:FUNCTION RECORD]\n", argv[0]);
    return 2;
  }
  if (plugin == NULL || *plugin == '\0') plugin = PYENV_PLUGIN_PATH;
  lib = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "example_host: cannot load %s: %s\n", plugin, dlerror());
    return 1;
  }
  if (!load(lib)) {
    dlclose(lib);
    return 1;
  }
  fprintf(stderr, "example_host: libpyenv %s from %s\n", pyenv.version(), plugin);
  rc = run(argv[1], argc == 4 ? argv[2] : NULL, argc == 4 ? argv[3] : "");
  dlclose(lib);
  return rc;
}
