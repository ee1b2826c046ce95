// The CPython C API as a table of functions resolved with dlsym from a libpython loaded at
// run time. libpyenv never links libpython and never calls into it directly: the library
// comes from each environment, so the plugin must load without one. Python.h is included
// for types and struct layouts only; its inline functions that reference libpython symbols
// (Py_DECREF calls _Py_Dealloc in 3.11, Py_None is a data symbol) are not used, and the
// plugin's -Wl,--no-undefined link catches any that slip in.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <filesystem>
#include <string>

namespace pyenv::python {

#define PYENV_PYTHON_FUNCTIONS(X)   \
  X(Py_GetVersion)                  \
  X(Py_IsInitialized)               \
  X(PyPreConfig_InitIsolatedConfig) \
  X(Py_PreInitialize)               \
  X(PyConfig_InitIsolatedConfig)    \
  X(PyConfig_SetString)             \
  X(PyConfig_Clear)                 \
  X(PyWideStringList_Append)        \
  X(Py_InitializeFromConfig)        \
  X(PyStatus_Exception)             \
  X(PyStatus_IsExit)                \
  X(Py_DecodeLocale)                \
  X(PyMem_RawFree)                  \
  X(PyEval_SaveThread)              \
  X(PyEval_RestoreThread)           \
  X(PyThreadState_Clear)            \
  X(PyThreadState_DeleteCurrent)    \
  X(PyGILState_Ensure)              \
  X(PyGILState_Release)             \
  X(PyGILState_GetThisThreadState)  \
  X(Py_IncRef)                      \
  X(Py_DecRef)                      \
  X(PyErr_Occurred)                 \
  X(PyErr_Fetch)                    \
  X(PyErr_NormalizeException)       \
  X(PyErr_Clear)                    \
  X(PyBytes_FromStringAndSize)      \
  X(PyBytes_AsStringAndSize)        \
  X(PyUnicode_FromStringAndSize)    \
  X(PyUnicode_DecodeFSDefault)      \
  X(PyUnicode_AsUTF8AndSize)        \
  X(PyObject_GetBuffer)             \
  X(PyBuffer_Release)               \
  X(PyObject_Str)                   \
  X(PyObject_GetAttrString)         \
  X(PyObject_Vectorcall)            \
  X(PyObject_Call)                  \
  X(PyCallable_Check)               \
  X(PyImport_ImportModule)          \
  X(PyDict_New)                     \
  X(PyDict_Clear)                   \
  X(PyDict_SetItemString)           \
  X(PyDict_GetItemString)           \
  X(PyDict_GetItemWithError)        \
  X(PyEval_GetBuiltins)             \
  X(PyList_New)                     \
  X(PyList_Append)                  \
  X(PyList_Size)                    \
  X(PyList_GetItem)                 \
  X(PyList_AsTuple)                 \
  X(PyObject_IsTrue)                \
  X(Py_CompileStringExFlags)        \
  X(PyEval_EvalCode)

// One loaded libpython. Never unloaded: a started CPython cannot be unloaded, and one that
// failed to start may have left state behind.
struct Api {
#define PYENV_DECLARE_FUNCTION(name) decltype(&::name) name = nullptr;
  PYENV_PYTHON_FUNCTIONS(PYENV_DECLARE_FUNCTION)
#undef PYENV_DECLARE_FUNCTION
  PyObject *none = nullptr;  // &_Py_NoneStruct
  void *handle = nullptr;
  std::filesystem::path path;
  std::string version;  // Py_GetVersion(): "3.11.2 (main, ...) [GCC 12.2.0]"
};

// "3.11" of the headers libpyenv was built with.
std::string header_version();

// dlopen()s `path` with RTLD_GLOBAL (extension modules, like Debian's lib-dynload, are not
// linked against libpython and expect its symbols in the global scope), resolves the table
// and checks that the library's major.minor is the headers'. Throws Error(kPython) naming
// the library, the missing symbol or both versions; the library is closed again then.
Api load_libpython(const std::filesystem::path &path);

}  // namespace pyenv::python
