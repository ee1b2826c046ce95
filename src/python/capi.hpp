// The part of CPython's C API that libpyenv calls, declared here rather than taken from
// Python.h, so that one build of the plugin embeds every CPython from 3.9 to 3.15, GIL and
// free-threaded builds alike.
//
// Python.h describes one version and one build: its macros and inline functions read object
// headers (Py_TYPE, Py_INCREF, PyList_Check), whose layout differs between minors and between
// GIL and free-threaded builds (ob_type sits at another offset), and its config structs
// (PyConfig) change in every minor. Declaring only what is layout-free makes "never touch a
// struct through a layout compiled for another version" true by construction:
//   - objects are opaque pointers; only functions touch them (Py_IncRef, not Py_INCREF;
//     PyType_GetFlags(PyObject_Type(o)) & the *_SUBCLASS flags, not PyList_Check);
//   - every function below is exported by every supported version; the stable ABI ones are
//     guaranteed to be (see stable_abi.toml), the others are checked per version where
//     they are used (tests/python/capi_check.cpp compares these declarations with the
//     machine's headers at compile time);
//   - the only structs declared are those whose layout is the same in every supported
//     version, each saying where that was checked.
// The version-specific start-up (PyConfig, PyPreConfig, PEP 741) lives in startup.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyenv::python::capi {

// Opaque: never defined, only pointed to.
struct PyObject;
struct PyTypeObject;  // a PyObject that is a type
struct PyThreadState;
struct PyCompilerFlags;
struct PyConfig;      // filled by PyConfig_InitIsolatedConfig into an opaque buffer
struct PyPreConfig;   // likewise; see startup.cpp for the fields read and written
struct PyInitConfig;  // PEP 741 (3.14+): opaque by design

using Py_ssize_t = std::ptrdiff_t;  // ssize_t on every Linux target

// A C enum in CPython (PyGILState_LOCKED, PyGILState_UNLOCKED): an int in the SysV ABI.
enum PyGILState_STATE : int {};

// Returned by value from the PyConfig API. The same four fields, in this order, in every
// version from 3.8 (where it appeared) to 3.14: Include/cpython/initconfig.h of 3.9, 3.11,
// 3.12, 3.13 and 3.14 read. 3.14 and later are started with PEP 741 instead, which has no
// PyStatus.
struct PyStatus {
  int type;  // 0 ok, 1 error, 2 exit
  const char *func;
  const char *err_msg;
  int exitcode;
};

// The buffer protocol's view. Unchanged since 3.3 and part of the limited API (so frozen)
// since 3.11.
struct Py_buffer {
  void *buf;
  PyObject *obj;
  Py_ssize_t len;
  Py_ssize_t itemsize;
  int readonly;
  int ndim;
  char *format;
  Py_ssize_t *shape;
  Py_ssize_t *strides;
  Py_ssize_t *suboffsets;
  void *internal;
};

// Values fixed by the stable ABI: Py_file_input, PyBUF_SIMPLE, Py_TPFLAGS_*_SUBCLASS.
constexpr int kFileInput = 257;
constexpr int kBufSimple = 0;
constexpr unsigned long kListSubclass = 1UL << 25;
constexpr unsigned long kBytesSubclass = 1UL << 27;
constexpr unsigned long kUnicodeSubclass = 1UL << 28;

// Called after start-up, by every supported version exported: name, result, parameters.
// All are in the stable ABI except PyUnicode_AsUTF8AndSize (exported since 3.3, stable from
// 3.10) and PyObject_GetBuffer / PyBuffer_Release (exported since 3.0, stable from 3.11).
#define PYENV_CAPI_FUNCTIONS(X)                                              \
  X(Py_GetVersion, const char *, (void))                                     \
  X(Py_IsInitialized, int, (void))                                           \
  X(PyEval_SaveThread, PyThreadState *, (void))                              \
  X(PyEval_RestoreThread, void, (PyThreadState *))                           \
  X(PyThreadState_Clear, void, (PyThreadState *))                            \
  X(PyThreadState_Delete, void, (PyThreadState *))                           \
  X(PyGILState_Ensure, PyGILState_STATE, (void))                             \
  X(PyGILState_Release, void, (PyGILState_STATE))                            \
  X(PyGILState_GetThisThreadState, PyThreadState *, (void))                  \
  X(Py_IncRef, void, (PyObject *))                                           \
  X(Py_DecRef, void, (PyObject *))                                           \
  X(PyErr_Occurred, PyObject *, (void))                                      \
  X(PyErr_Fetch, void, (PyObject **, PyObject **, PyObject **))              \
  X(PyErr_NormalizeException, void, (PyObject **, PyObject **, PyObject **)) \
  X(PyErr_Clear, void, (void))                                               \
  X(PyBytes_FromStringAndSize, PyObject *, (const char *, Py_ssize_t))       \
  X(PyBytes_AsStringAndSize, int, (PyObject *, char **, Py_ssize_t *))       \
  X(PyUnicode_FromStringAndSize, PyObject *, (const char *, Py_ssize_t))     \
  X(PyUnicode_DecodeFSDefault, PyObject *, (const char *))                   \
  X(PyUnicode_AsUTF8AndSize, const char *, (PyObject *, Py_ssize_t *))       \
  X(PyObject_GetBuffer, int, (PyObject *, Py_buffer *, int))                 \
  X(PyBuffer_Release, void, (Py_buffer *))                                   \
  X(PyObject_Str, PyObject *, (PyObject *))                                  \
  X(PyObject_Type, PyObject *, (PyObject *))                                 \
  X(PyType_GetFlags, unsigned long, (PyTypeObject *))                        \
  X(PyObject_GetAttrString, PyObject *, (PyObject *, const char *))          \
  X(PyObject_CallFunctionObjArgs, PyObject *, (PyObject *, ...))             \
  X(PyObject_Call, PyObject *, (PyObject *, PyObject *, PyObject *))         \
  X(PyCallable_Check, int, (PyObject *))                                     \
  X(PyImport_ImportModule, PyObject *, (const char *))                       \
  X(PyDict_New, PyObject *, (void))                                          \
  X(PyDict_Clear, void, (PyObject *))                                        \
  X(PyDict_Size, Py_ssize_t, (PyObject *))                                   \
  X(PyDict_SetItemString, int, (PyObject *, const char *, PyObject *))       \
  X(PyDict_GetItemString, PyObject *, (PyObject *, const char *))            \
  X(PyDict_GetItemWithError, PyObject *, (PyObject *, PyObject *))           \
  X(PyEval_GetBuiltins, PyObject *, (void))                                  \
  X(PyTuple_New, PyObject *, (Py_ssize_t))                                   \
  X(PyList_New, PyObject *, (Py_ssize_t))                                    \
  X(PyList_Append, int, (PyObject *, PyObject *))                            \
  X(PyList_GetItem, PyObject *, (PyObject *, Py_ssize_t))                    \
  X(PyList_AsTuple, PyObject *, (PyObject *))                                \
  X(PyObject_IsTrue, int, (PyObject *))                                      \
  X(Py_CompileString, PyObject *, (const char *, const char *, int))         \
  X(PyEval_EvalCode, PyObject *, (PyObject *, PyObject *, PyObject *))

// Used when the library has them, with a fallback otherwise.
// PyDict_GetItemRef (3.13+) returns a strong reference: in a free-threaded build (3.13 and
// later only) a borrowed one from PyDict_GetItemWithError could be freed by another thread
// rebinding the name before we take our own.
#define PYENV_CAPI_OPTIONAL_FUNCTIONS(X) \
  X(PyDict_GetItemRef, int, (PyObject *, PyObject *, PyObject **))

// Start-up, 3.9 to 3.13 (PEP 587; startup.cpp). Exported by 3.8 to 3.15; the legacy setters
// are in the stable ABI.
#define PYENV_CAPI_PEP587_FUNCTIONS(X)                     \
  X(PyPreConfig_InitIsolatedConfig, void, (PyPreConfig *)) \
  X(Py_PreInitialize, PyStatus, (const PyPreConfig *))     \
  X(PyConfig_InitIsolatedConfig, void, (PyConfig *))       \
  X(PyConfig_Clear, void, (PyConfig *))                    \
  X(Py_InitializeFromConfig, PyStatus, (const PyConfig *)) \
  X(Py_SetPythonHome, void, (const wchar_t *))             \
  X(Py_SetProgramName, void, (const wchar_t *))            \
  X(Py_DecodeLocale, wchar_t *, (const char *, size_t *))  \
  X(PyMem_RawFree, void, (void *))

// Start-up, 3.14 and later (PEP 741; startup.cpp).
#define PYENV_CAPI_PEP741_FUNCTIONS(X)                                      \
  X(PyInitConfig_Create, PyInitConfig *, (void))                            \
  X(PyInitConfig_Free, void, (PyInitConfig *))                              \
  X(PyInitConfig_GetError, int, (PyInitConfig *, const char **))            \
  X(PyInitConfig_GetExitCode, int, (PyInitConfig *, int *))                 \
  X(PyInitConfig_SetInt, int, (PyInitConfig *, const char *, std::int64_t)) \
  X(PyInitConfig_SetStr, int, (PyInitConfig *, const char *, const char *)) \
  X(Py_InitializeFromInitConfig, int, (PyInitConfig *))

// The function pointer type of each: capi::Py_IncRef_fn and so on.
#define PYENV_CAPI_DECLARE_TYPE(name, result, params) using name##_fn = result(*) params;
PYENV_CAPI_FUNCTIONS(PYENV_CAPI_DECLARE_TYPE)
PYENV_CAPI_OPTIONAL_FUNCTIONS(PYENV_CAPI_DECLARE_TYPE)
PYENV_CAPI_PEP587_FUNCTIONS(PYENV_CAPI_DECLARE_TYPE)
PYENV_CAPI_PEP741_FUNCTIONS(PYENV_CAPI_DECLARE_TYPE)
#undef PYENV_CAPI_DECLARE_TYPE

}  // namespace pyenv::python::capi
