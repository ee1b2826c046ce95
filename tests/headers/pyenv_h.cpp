// pyenv.h alone, as C++17: extern "C" linkage, no C-only constructs, no warnings.
#include <pyenv/pyenv.h>

static_assert(PYENV_ABI_VERSION == ((PYENV_ABI_VERSION_MAJOR << 16) | PYENV_ABI_VERSION_MINOR),
              "PYENV_ABI_VERSION is (MAJOR << 16) | MINOR");

pyenv_status headers_check(const char *tmp_dir) {
  const char *tmp_dirs[] = {tmp_dir};
  pyenv_options options{};
  options.struct_size = sizeof options;
  options.job_id = "job";
  options.tmp_dirs = tmp_dirs;
  options.tmp_dirs_count = 1;
  options.log = [](void *, int, const char *) {};
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *) = &pyenv_create;
  pyenv_manager *manager = nullptr;
  pyenv_status status = create(&manager, &options);
  void (*free_env)(pyenv_environment **) = &pyenv_environment_free;
  (void)free_env;
  return status == PYENV_OK ? pyenv_close(&manager) : status;
}
