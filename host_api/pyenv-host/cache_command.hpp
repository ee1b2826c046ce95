// pyenv-host cache list|warm|prune|rm: the calling user's cache, for operators (DESIGN.md
// 5.5), through the plugin's public ABI (pyenv_cache_*).
#pragma once

namespace pyenv_host {

// argv[1] is "cache". Returns the exit status.
int run_cache(int argc, char **argv);

}  // namespace pyenv_host
