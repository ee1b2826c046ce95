#include "jni_support.hpp"

#include <cstring>

namespace pyenv_jni {
namespace {

JavaRefs g_java;

jclass global_class(JNIEnv *env, const char *name) {
  jclass local = env->FindClass(name);
  if (local == nullptr) return nullptr;
  auto global = static_cast<jclass>(env->NewGlobalRef(local));
  env->DeleteLocalRef(local);
  return global;
}

}  // namespace

const JavaRefs &java() { return g_java; }

bool init_java(JavaVM *vm, JNIEnv *env) {
  g_java.vm = vm;
  g_java.exception = global_class(env, "org/libpyenv/PyenvException");
  if (g_java.exception == nullptr) return false;
  g_java.from_native =
      env->GetStaticMethodID(g_java.exception, "fromNative", "(I[B)Lorg/libpyenv/PyenvException;");
  if (g_java.from_native == nullptr) return false;
  g_java.callbacks = global_class(env, "org/libpyenv/NativeCallbacks");
  if (g_java.callbacks == nullptr) return false;
  g_java.log = env->GetMethodID(g_java.callbacks, "log", "(I[B)V");
  g_java.progress = env->GetMethodID(g_java.callbacks, "progress", "([BJJ)V");
  if (g_java.log == nullptr || g_java.progress == nullptr) return false;
  g_java.byte_array = global_class(env, "[B");
  return g_java.byte_array != nullptr;
}

void throw_status(JNIEnv *env, int status, const std::string &message) {
  if (env->ExceptionCheck()) return;  // the first failure stands
  jbyteArray text = new_bytes(env, message.data(), message.size());
  if (text == nullptr) return;
  auto exception = static_cast<jthrowable>(
      env->CallStaticObjectMethod(g_java.exception, g_java.from_native, status, text));
  env->DeleteLocalRef(text);
  // fromNative itself threw (no memory): that one is pending and stands.
  if (env->ExceptionCheck() || exception == nullptr) return;
  env->Throw(exception);
  env->DeleteLocalRef(exception);
}

void throw_failed(JNIEnv *env, pyenv_status status) {
  const char *message = plugin().last_error();
  throw_status(env, status, message ? message : "");
}

jbyteArray new_bytes(JNIEnv *env, const void *data, size_t size) {
  if (size > static_cast<size_t>(INT32_MAX)) {
    throw_status(env, PYENV_ENOMEM,
                 "a result of " + std::to_string(size) + " bytes does not fit a Java array");
    return nullptr;
  }
  const auto length = static_cast<jsize>(size);
  jbyteArray array = env->NewByteArray(length);
  if (array == nullptr) return nullptr;
  if (length > 0) env->SetByteArrayRegion(array, 0, length, static_cast<const jbyte *>(data));
  return array;
}

jbyteArray string_bytes(JNIEnv *env, const char *text) {
  return text == nullptr ? nullptr : new_bytes(env, text, std::strlen(text));
}

jobjectArray string_array(JNIEnv *env, const std::vector<const char *> &strings) {
  jobjectArray out =
      env->NewObjectArray(static_cast<jsize>(strings.size()), g_java.byte_array, nullptr);
  if (out == nullptr) return nullptr;
  for (size_t i = 0; i < strings.size(); ++i) {
    jbyteArray item = string_bytes(env, strings[i]);
    if (env->ExceptionCheck()) return nullptr;
    env->SetObjectArrayElement(out, static_cast<jsize>(i), item);
    if (item != nullptr) env->DeleteLocalRef(item);
  }
  return out;
}

CString::CString(JNIEnv *env, jbyteArray bytes) {
  if (bytes == nullptr) return;
  const jsize length = env->GetArrayLength(bytes);
  char *buffer = small_;
  if (static_cast<size_t>(length) > sizeof small_) {
    large_.reset(new char[static_cast<size_t>(length)]);
    buffer = large_.get();
  }
  env->GetByteArrayRegion(bytes, 0, length, reinterpret_cast<jbyte *>(buffer));
  if (length == 0 || buffer[length - 1] != '\0') {
    // org.libpyenv.CStrings always appends the NUL: anything else is a bug on the Java side.
    throw_status(env, PYENV_EINVAL, "libpyenv_jni: a string without its terminating NUL");
    ok_ = false;
    return;
  }
  text_ = buffer;
}

CStringArray::CStringArray(JNIEnv *env, jobjectArray array) {
  if (array == nullptr) return;
  const jsize length = env->GetArrayLength(array);
  for (jsize i = 0; i < length; ++i) {
    auto item = static_cast<jbyteArray>(env->GetObjectArrayElement(array, i));
    strings_.push_back(std::make_unique<CString>(env, item));
    if (item != nullptr) env->DeleteLocalRef(item);
    if (!strings_.back()->ok()) {
      ok_ = false;
      return;
    }
    pointers_.push_back(strings_.back()->get());
  }
}

}  // namespace pyenv_jni
