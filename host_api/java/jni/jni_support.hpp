// What every JNI entry point of libpyenv_jni needs: Java exceptions from statuses, Java byte
// arrays from C strings and back, and a barrier that keeps C++ exceptions out of the JVM.
#pragma once

#include <jni.h>
#include <pyenv/pyenv.h>

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "plugin.hpp"

namespace pyenv_jni {

// Classes and methods looked up once, in JNI_OnLoad.
struct JavaRefs {
  JavaVM *vm = nullptr;
  jclass exception = nullptr;       // org.libpyenv.PyenvException
  jmethodID from_native = nullptr;  // static PyenvException fromNative(int, byte[])
  jclass callbacks = nullptr;       // org.libpyenv.NativeCallbacks
  jmethodID log = nullptr;          // void log(int, byte[])
  jmethodID progress = nullptr;     // void progress(byte[], long, long)
  jclass byte_array = nullptr;      // byte[]
};
const JavaRefs &java();
bool init_java(JavaVM *vm, JNIEnv *env);

// Throws a PyenvException with `status` and `message` (UTF-8) into the JVM.
void throw_status(JNIEnv *env, int status, const std::string &message);
// Throws the PyenvException of a failed plugin call; the message is this thread's
// pyenv_last_error(), read before anything else can replace it.
void throw_failed(JNIEnv *env, pyenv_status status);

// A new byte[] holding `size` bytes; nullptr with an exception pending when Java has no memory.
jbyteArray new_bytes(JNIEnv *env, const void *data, size_t size);
// A C string as a byte[] without its NUL; nullptr (and no exception) for NULL.
jbyteArray string_bytes(JNIEnv *env, const char *text);
// `strings` as byte[][]; nullptr with an exception pending on failure.
jobjectArray string_array(JNIEnv *env, const std::vector<const char *> &strings);

// A NUL-terminated byte[] from org.libpyenv.CStrings as a C string; get() is NULL for a null
// array. ok() is false when an exception is pending (the caller returns at once).
class CString {
 public:
  CString(JNIEnv *env, jbyteArray bytes);
  CString(const CString &) = delete;
  CString &operator=(const CString &) = delete;
  const char *get() const { return text_; }
  bool ok() const { return ok_; }

 private:
  char small_[256];
  std::unique_ptr<char[]> large_;
  const char *text_ = nullptr;
  bool ok_ = true;
};

// A byte[][] of such strings as an array of C strings (NULL entries stay NULL).
class CStringArray {
 public:
  CStringArray(JNIEnv *env, jobjectArray array);
  const char *const *data() const { return pointers_.empty() ? nullptr : pointers_.data(); }
  size_t size() const { return pointers_.size(); }
  bool ok() const { return ok_; }

 private:
  std::vector<std::unique_ptr<CString>> strings_;
  std::vector<const char *> pointers_;
  bool ok_ = true;
};

// Runs `body`, turning a C++ exception into a Java one: nothing C++ may unwind into the JVM.
template <class Result, class Body>
Result guard(JNIEnv *env, Result failed, Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    throw_status(env, PYENV_ENOMEM, "libpyenv_jni: out of memory");
  } catch (const std::exception &e) {
    throw_status(env, PYENV_ERROR, std::string("libpyenv_jni: ") + e.what());
  } catch (...) {
    throw_status(env, PYENV_ERROR, "libpyenv_jni: unknown error");
  }
  return failed;
}

// The loaded plugin; every handle Java holds was made by it.
inline const Api &plugin() { return *api(); }

template <class T>
T *from_handle(jlong handle) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(handle));
}
template <class T>
jlong to_handle(T *pointer) {
  return static_cast<jlong>(reinterpret_cast<intptr_t>(pointer));
}

}  // namespace pyenv_jni
