/* A perfectly loadable shared object that is not a libpyenv plugin: it exports no pyenv_*
 * symbol at all. */
__attribute__((visibility("default"))) int not_a_pyenv_plugin(void) { return 42; }
