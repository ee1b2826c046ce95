#include "support/fixture.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>
#include <zip.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pyenv::test {

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/pyenv-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Extracted trees may hold read-only directories: open them up before removing.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  fs::remove_all(path_, ec);
}

void write_file(const fs::path &path, const std::string &bytes, mode_t mode) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  ::chmod(path.c_str(), mode);
}

std::string read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> list_tree(const fs::path &root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    out.insert(fs::relative(it->path(), root).string());
  }
  return out;
}

mode_t mode_of(const fs::path &path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

Entry file_entry(const std::string &name, const std::string &data, mode_t perm) {
  return Entry{name, data, static_cast<mode_t>(S_IFREG | perm), ""};
}
Entry dir_entry(const std::string &name, mode_t perm) {
  return Entry{name, "", static_cast<mode_t>(S_IFDIR | perm), ""};
}
Entry link_entry(const std::string &name, const std::string &target) {
  return Entry{name, target, static_cast<mode_t>(S_IFLNK | 0777), ""};
}

void write_zip(const fs::path &path, const std::vector<Entry> &entries, bool stored) {
  int error = 0;
  zip_t *zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) throw std::runtime_error("zip_open failed for " + path.string());
  for (const Entry &e : entries) {
    zip_int64_t index;
    if ((e.mode & S_IFMT) == S_IFDIR) {
      std::string name = e.name.back() == '/' ? e.name.substr(0, e.name.size() - 1) : e.name;
      index = zip_dir_add(zip, name.c_str(), ZIP_FL_ENC_UTF_8);
    } else {
      zip_source_t *src = zip_source_buffer(zip, e.data.data(), e.data.size(), 0);
      index = zip_file_add(zip, e.name.c_str(), src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    }
    if (index < 0) throw std::runtime_error(std::string("zip add failed: ") + zip_strerror(zip));
    if (stored) zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    if (e.mode == 0) {
      zip_file_set_external_attributes(zip, static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_DOS, 0);
    } else {
      zip_file_set_external_attributes(zip, static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_UNIX,
                                       static_cast<zip_uint32_t>(e.mode) << 16);
    }
  }
  if (zip_close(zip) != 0) {
    std::string message = zip_strerror(zip);
    zip_discard(zip);
    throw std::runtime_error("zip_close failed: " + message);
  }
}

void write_tar(const fs::path &path, const std::vector<Entry> &entries, const std::string &filter) {
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "bzip2") archive_write_add_filter_bzip2(a);
  if (filter == "xz") archive_write_add_filter_xz(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) {
    std::string message = archive_error_string(a);
    archive_write_free(a);
    throw std::runtime_error("tar open failed: " + message);
  }
  for (const Entry &e : entries) {
    struct archive_entry *entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_mode(entry, e.mode);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (!e.hardlink.empty()) {
      archive_entry_set_hardlink(entry, e.hardlink.c_str());
      archive_entry_set_size(entry, 0);
    } else if ((e.mode & S_IFMT) == S_IFLNK) {
      archive_entry_set_symlink(entry, e.data.c_str());
      archive_entry_set_size(entry, 0);
    } else if ((e.mode & S_IFMT) == S_IFREG) {
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    } else {
      archive_entry_set_size(entry, 0);
    }
    archive_write_header(a, entry);
    if ((e.mode & S_IFMT) == S_IFREG && e.hardlink.empty() && !e.data.empty()) {
      archive_write_data(a, e.data.data(), e.data.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

fs::path write_wheel(const fs::path &dir, const std::string &name, const std::string &version,
                     const std::string &init_py) {
  const std::string info = name + "-" + version + ".dist-info/";
  const fs::path path = dir / (name + "-" + version + "-py3-none-any.whl");
  fs::create_directories(dir);
  write_zip(path, {file_entry(name + "/__init__.py", init_py),
                   file_entry(info + "METADATA", "Metadata-Version: 2.1\nName: " + name +
                                                     "\nVersion: " + version + "\n"),
                   file_entry(info + "WHEEL",
                              "Wheel-Version: 1.0\nGenerator: pyenv-tests\nRoot-Is-Purelib: "
                              "true\nTag: py3-none-any\n"),
                   file_entry(info + "RECORD", name + "/__init__.py,,\n" + info + "METADATA,,\n" +
                                                   info + "WHEEL,,\n" + info + "RECORD,,\n")});
  return path;
}

std::string plugin_path() {
  const char *env = std::getenv("PYENV_TEST_PLUGIN");
  return env && *env ? env : PYENV_PLUGIN_PATH;
}

const pyenv::host::Plugin &plugin() {
  static const pyenv::host::Plugin loaded = pyenv::host::Plugin::load(plugin_path());
  return loaded;
}

const pyenv::host::Api &api() { return plugin().api(); }

pyenv_options job_options(const char *job_id, const char *const *tmp_dirs, const char *yaml) {
  pyenv_options o{};
  o.struct_size = sizeof o;
  o.job_id = job_id;
  o.tmp_dirs = tmp_dirs;
  o.tmp_dirs_count = 1;
  o.config_yaml = yaml;
  return o;
}

void ConformanceTest::SetUp() {
  T = tmp_.path();
  for (int i = 0; i < 6; ++i) write_file(T / ("file" + std::to_string(i)), std::string(1, char(i)));
  for (int d = 0; d < 2; ++d) {
    fs::path dir = T / ("dir" + std::to_string(d));
    write_file(dir / "file0", std::string(1, '\0'));
    write_file(dir / "file1", std::string(1, '\1'));
  }
  for (int z = 0; z < 2; ++z) {
    std::string dir = "zipDir" + std::to_string(z);
    write_zip(T / ("zip" + std::to_string(z)),
              {file_entry(dir + "/zipfile0", std::string(5, '\1'), 0711),
               file_entry(dir + "/zipfile1", std::string(5, '\2'), 0644)});
  }
}

std::string ConformanceTest::new_job_id() {
  static std::atomic<int> counter{0};
  return "job-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

pyenv::host::Manager ConformanceTest::create(const std::string &yaml,
                                             const std::vector<std::string> &system_env,
                                             const std::string &job_id) {
  pyenv::host::Options options;
  options.job_id = job_id.empty() ? new_job_id() : job_id;
  options.tmp_dirs = {T.string()};
  options.config_yaml = yaml;
  options.system_env = system_env;
  return plugin().create(options);
}

std::map<std::string, std::string> ConformanceTest::basic_env(const fs::path &base,
                                                              const std::string &python) {
  return {
      {"python", python}, {"BOOT_LOG_DIR", base.string()}, {"PYFLINK_GATEWAY_DISABLED", "true"}};
}

std::vector<fs::path> base_dirs_in(const fs::path &dir) {
  std::vector<fs::path> out;
  for (const auto &entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("python-dist-", 0) == 0) out.push_back(entry.path());
  }
  return out;
}

fs::path default_cache_dir(const fs::path &tmp) {
  return tmp / ("pyenv-cache-" + std::to_string(::geteuid()));
}

std::set<std::string> ConformanceTest::job_files() const {
  std::set<std::string> out;
  for (const std::string &path : list_tree(T)) {
    if (path.rfind(default_cache_dir(T).filename().string(), 0) != 0) out.insert(path);
  }
  if (fs::exists(default_cache_dir(T) / "staging")) {
    EXPECT_TRUE(fs::is_empty(default_cache_dir(T) / "staging")) << "staging left in the cache";
  }
  return out;
}

fs::path ConformanceTest::base_dir() const {
  std::vector<fs::path> dirs = base_dirs();
  EXPECT_EQ(dirs.size(), 1u) << "expected exactly one python-dist-* directory in " << T;
  return dirs.empty() ? fs::path() : dirs.front();
}

}  // namespace pyenv::test
