// libpyenv declares the CPython API it calls itself (src/python/capi.hpp) instead of
// including Python.h. This file holds those declarations against the machine's Python.h
// (Debian 12: 3.11) at compile time, for what is version-independent: every function's
// signature, the structs' layouts, the constants. Compiling is the test.
// The legacy setters (Py_SetPythonHome...) are deprecated since 3.11: compared all the same.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <type_traits>

#include "python/capi.hpp"

namespace {

namespace capi = pyenv::python::capi;

// capi's types turned into Python.h's, through pointers, const and function types.
template <class T>
struct Real {
  using type = T;
};
template <class T>
using real_t = typename Real<T>::type;
template <class T>
struct Real<T *> {
  using type = real_t<T> *;
};
template <class T>
struct Real<const T> {
  using type = const real_t<T>;
};
template <class R, class... A>
struct Real<R (*)(A...)> {
  using type = real_t<R> (*)(real_t<A>...);
};
template <class R, class... A>
struct Real<R (*)(A..., ...)> {
  using type = real_t<R> (*)(real_t<A>..., ...);
};
template <>
struct Real<capi::PyObject> {
  using type = ::PyObject;
};
template <>
struct Real<capi::PyTypeObject> {
  using type = ::PyTypeObject;
};
template <>
struct Real<capi::PyThreadState> {
  using type = ::PyThreadState;
};
template <>
struct Real<capi::PyConfig> {
  using type = ::PyConfig;
};
template <>
struct Real<capi::PyPreConfig> {
  using type = ::PyPreConfig;
};
template <>
struct Real<capi::PyStatus> {
  using type = ::PyStatus;
};
template <>
struct Real<capi::Py_buffer> {
  using type = ::Py_buffer;
};
template <>
struct Real<capi::PyGILState_STATE> {
  using type = ::PyGILState_STATE;
};

// Py_CompileString is a macro in the full API (a function in the stable ABI, which every
// version exports): compared with the limited API's declaration by hand.
#undef Py_CompileString
extern "C" PyObject *Py_CompileString(const char *, const char *, int);

#define PYENV_CHECK_SIGNATURE(name, result, params)                         \
  static_assert(std::is_same_v<real_t<capi::name##_fn>, decltype(&::name)>, \
                #name ": capi.hpp's declaration differs from Python.h's");
PYENV_CAPI_FUNCTIONS(PYENV_CHECK_SIGNATURE)
PYENV_CAPI_PEP587_FUNCTIONS(PYENV_CHECK_SIGNATURE)
// PYENV_CAPI_OPTIONAL_FUNCTIONS and PYENV_CAPI_PEP741_FUNCTIONS are newer than 3.11: their
// declarations were compared with the 3.13 and 3.14 headers by reading.
#undef PYENV_CHECK_SIGNATURE

#define PYENV_CHECK_FIELD(type, field)                                    \
  static_assert(offsetof(capi::type, field) == offsetof(::type, field) && \
                    sizeof(capi::type::field) == sizeof(::type::field),   \
                #type "." #field ": capi.hpp's layout differs from Python.h's");
static_assert(sizeof(capi::PyStatus) == sizeof(::PyStatus));
static_assert(offsetof(capi::PyStatus, type) == offsetof(::PyStatus, _type));
PYENV_CHECK_FIELD(PyStatus, func)
PYENV_CHECK_FIELD(PyStatus, err_msg)
PYENV_CHECK_FIELD(PyStatus, exitcode)
static_assert(sizeof(capi::Py_buffer) == sizeof(::Py_buffer));
PYENV_CHECK_FIELD(Py_buffer, buf)
PYENV_CHECK_FIELD(Py_buffer, obj)
PYENV_CHECK_FIELD(Py_buffer, len)
PYENV_CHECK_FIELD(Py_buffer, internal)
#undef PYENV_CHECK_FIELD

// PyPreConfig: ten ints, utf8_mode the eighth (startup.cpp).
static_assert(sizeof(::PyPreConfig) == 10 * sizeof(int));
static_assert(offsetof(::PyPreConfig, _config_init) == 0 * sizeof(int));
static_assert(offsetof(::PyPreConfig, isolated) == 2 * sizeof(int));
static_assert(offsetof(::PyPreConfig, use_environment) == 3 * sizeof(int));
static_assert(offsetof(::PyPreConfig, utf8_mode) == 7 * sizeof(int));
static_assert(offsetof(::PyPreConfig, allocator) == 9 * sizeof(int));
// PyConfig: _config_init first, in a buffer of 16 KiB of which 8 KiB must stay untouched.
static_assert(offsetof(::PyConfig, _config_init) == 0 && sizeof(::PyConfig) < 8192);

static_assert(sizeof(capi::Py_ssize_t) == sizeof(::Py_ssize_t));
static_assert(sizeof(capi::PyGILState_STATE) == sizeof(::PyGILState_STATE));
static_assert(capi::kFileInput == Py_file_input);
static_assert(capi::kBufSimple == PyBUF_SIMPLE);
static_assert(capi::kListSubclass == Py_TPFLAGS_LIST_SUBCLASS);
static_assert(capi::kBytesSubclass == Py_TPFLAGS_BYTES_SUBCLASS);
static_assert(capi::kUnicodeSubclass == Py_TPFLAGS_UNICODE_SUBCLASS);

}  // namespace
