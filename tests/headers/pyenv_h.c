/* pyenv.h alone, as C: it must need nothing but itself (compiled as C99 with -pedantic). */
#include <pyenv/pyenv.h>

typedef pyenv_status (*create_fn)(pyenv_manager **, const pyenv_options *);

static void log_sink(void *user, int level, const char *message) {
  (void)user;
  (void)level;
  (void)message;
}

pyenv_status headers_check(create_fn create, const char *tmp_dir) {
  const char *tmp_dirs[1];
  pyenv_options options = {0};
  pyenv_manager *manager = NULL;
  pyenv_environment *env = NULL;
  pyenv_progress_fn progress = NULL;
  pyenv_status status;
  uint32_t version = PYENV_ABI_VERSION;

  tmp_dirs[0] = tmp_dir;
  options.struct_size = sizeof options;
  options.job_id = "job";
  options.tmp_dirs = tmp_dirs;
  options.tmp_dirs_count = 1;
  options.log = log_sink;
  options.progress = progress;
  status = create(&manager, &options);
  if (status == PYENV_OK && version >> 16 == PYENV_ABI_VERSION_MAJOR && env == NULL) {
    return PYENV_ENOMEM;
  }
  (void)&pyenv_environment_var_at;
  (void)&pyenv_environment_free;
  return status;
}
