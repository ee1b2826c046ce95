// Starting CPython: the one version-specific part of the embedded interpreter.
#pragma once

#include <filesystem>
#include <string>

#include "python/libpython.hpp"

namespace pyenv::python {

struct StartOptions {
  std::string version;  // "3.13", as located (and checked against Py_GetVersion)
  std::filesystem::path home;
  std::filesystem::path executable;  // sys.executable; a venv's bin/python names the venv
};

// Initialises the CPython of `api` isolated from the host process: its environment variables
// (PYTHONPATH, PYTHONHOME, PYTHONSTARTUP...) ignored, no user site-packages, no signal
// handlers (the host owns SIGINT), no argv parsing, the host's locale untouched, UTF-8 mode,
// with `options`' home and executable. Takes the path the version documents: PEP 741 from
// 3.14, PEP 587 with the legacy path setters from 3.9 to 3.13.
//
// On return the calling thread holds the GIL with the main thread state. Never exits the
// process: a failure throws Error(kPython) with CPython's message; CPython may have kept
// state, so it cannot be started again in this process.
void start_cpython(const Api &api, const StartOptions &options);

}  // namespace pyenv::python
