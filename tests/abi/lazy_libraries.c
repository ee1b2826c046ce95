/*
 * The plugin loads libarchive (and libxml2, ICU... through it) only when a job first meets
 * a tar, and libcrypto only when an archive is first hashed for the cache: a host whose
 * jobs ship zips never maps libarchive, and one whose jobs use no cache (or whose archives
 * the cache's memo knows) never maps libcrypto. A C host, linked with nothing but libdl (the
 * test programs in C++ link libarchive themselves to build archives), checks its own
 * mappings after each step.
 *
 *   lazy_libraries PLUGIN ZIP TAR TMP_DIR
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pyenv/pyenv.h>
#include <stdio.h>
#include <string.h>

static int mapped(const char *name) {
  FILE *maps = fopen("/proc/self/maps", "re");
  char line[4096];
  int found = 0;
  if (maps == NULL) return -1;
  while (!found && fgets(line, sizeof line, maps) != NULL) found = strstr(line, name) != NULL;
  fclose(maps);
  return found;
}

typedef pyenv_status (*create_fn)(pyenv_manager **, const pyenv_options *);
typedef pyenv_status (*manager_fn)(pyenv_manager *);
typedef pyenv_status (*close_fn)(pyenv_manager **);
typedef const char *(*error_fn)(void);

static create_fn create;
static manager_fn open_manager;
static close_fn close_manager;
static error_fn last_error;

/* Opens a job extracting `archive`, privately unless `cached`; 0 on success. */
static int open_job(const char *job, const char *archive, const char *tmp, int cached) {
  char yaml[4096];
  const char *tmp_dirs[1];
  pyenv_options options;
  pyenv_manager *manager = NULL;
  int rc = 1;
  tmp_dirs[0] = tmp;
  snprintf(yaml, sizeof yaml, "python.archives: %s#target\npyenv.cache.enabled: %s\n", archive,
           cached ? "true" : "false");
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.job_id = job;
  options.tmp_dirs = tmp_dirs;
  options.tmp_dirs_count = 1;
  options.config_yaml = yaml;
  if (create(&manager, &options) == PYENV_OK && open_manager(manager) == PYENV_OK) rc = 0;
  if (rc != 0) fprintf(stderr, "lazy_libraries: %s: %s\n", archive, last_error());
  close_manager(&manager);
  return rc;
}

int main(int argc, char **argv) {
  void *lib, *symbol;
  if (argc != 5) {
    fprintf(stderr, "usage: lazy_libraries PLUGIN ZIP TAR TMP_DIR\n");
    return 2;
  }
  if (mapped("libarchive.so") != 0 || mapped("libcrypto.so") != 0) {
    fprintf(stderr,
            "lazy_libraries: libarchive or libcrypto is mapped before the plugin is loaded\n");
    return 2;
  }
  lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "lazy_libraries: %s\n", dlerror());
    return 1;
  }
  /* POSIX guarantees that a data pointer from dlsym converts to a function pointer. */
  symbol = dlsym(lib, "pyenv_create");
  memcpy(&create, &symbol, sizeof symbol);
  symbol = dlsym(lib, "pyenv_open");
  memcpy(&open_manager, &symbol, sizeof symbol);
  symbol = dlsym(lib, "pyenv_close");
  memcpy(&close_manager, &symbol, sizeof symbol);
  symbol = dlsym(lib, "pyenv_last_error");
  memcpy(&last_error, &symbol, sizeof symbol);
  if (!create || !open_manager || !close_manager || !last_error) return 1;
  if (mapped("libarchive.so") || mapped("libcrypto.so")) {
    fprintf(stderr, "lazy_libraries: loading the plugin mapped libarchive or libcrypto\n");
    return 1;
  }
  if (open_job("lazy-zip", argv[2], argv[4], 0) != 0) return 1;
  if (mapped("libarchive.so")) {
    fprintf(stderr, "lazy_libraries: a zip job mapped libarchive\n");
    return 1;
  }
  if (open_job("lazy-tar", argv[3], argv[4], 0) != 0) return 1;
  if (!mapped("libarchive.so")) {
    fprintf(stderr, "lazy_libraries: a tar job was extracted without libarchive mapped?\n");
    return 1;
  }
  if (mapped("libcrypto.so")) {
    fprintf(stderr, "lazy_libraries: jobs without the cache mapped libcrypto\n");
    return 1;
  }
  if (open_job("lazy-cached", argv[2], argv[4], 1) != 0) return 1;
  if (!mapped("libcrypto.so")) {
    fprintf(stderr, "lazy_libraries: an archive was hashed without libcrypto mapped?\n");
    return 1;
  }
  printf(
      "lazy_libraries: libarchive not mapped until the first tar, libcrypto until the first "
      "hash\n");
  return 0;
}
