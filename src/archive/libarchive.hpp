// libarchive, loaded when the first tar is met rather than with the plugin: it brings in
// libxml2, ICU, nettle, lz4, acl... (about a dozen libraries) that a zip never needs, and
// that every host would otherwise pay for at dlopen. Only its header is compiled against;
// the functions are looked up once, by name, from PYENV_LIBARCHIVE_SONAME.
#pragma once

#include <archive.h>
#include <archive_entry.h>

namespace pyenv::archive {

struct LibArchive {
#define PYENV_LIBARCHIVE_FUNCTIONS(X)                                                              \
  X(archive_read_new)                                                                              \
  X(archive_read_free)                                                                             \
  X(archive_error_string) X(archive_set_error) X(archive_read_support_filter_all)                  \
      X(archive_read_support_format_raw) X(archive_read_support_format_tar)                        \
          X(archive_read_support_format_gnutar) X(archive_read_open) X(archive_read_open_filename) \
              X(archive_read_next_header) X(archive_read_data) X(archive_entry_pathname)           \
                  X(archive_entry_is_encrypted) X(archive_entry_perm) X(archive_entry_mtime)       \
                      X(archive_entry_hardlink) X(archive_entry_filetype) X(archive_entry_symlink) \
                          X(archive_entry_size)
#define PYENV_LIBARCHIVE_POINTER(name) decltype(&::name) name;
  PYENV_LIBARCHIVE_FUNCTIONS(PYENV_LIBARCHIVE_POINTER)
#undef PYENV_LIBARCHIVE_POINTER
};

// The loaded library, the first call loading it (thread-safe). Throws Error(kArchive) when
// it cannot be loaded or lacks a function, naming the library.
const LibArchive &libarchive();

}  // namespace pyenv::archive
