/* Holds a deliberate warning: the header checks' flags must turn it into a failure, or a
 * regression in pyenv.h would pass unnoticed. */
#include <pyenv/pyenv.h>

int headers_selftest(void) {
  int unused;
  return (int)PYENV_OK;
}
