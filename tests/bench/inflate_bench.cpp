// Inflate alone, without the file system: libzip's own (zlib) against libdeflate, over
// every deflated entry of a zip, in memory. Decides which decompressor extraction uses.
//
//   inflate_bench CORPUS.zip [REPS]
#include <libdeflate.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: inflate_bench CORPUS.zip [REPS]\n");
    return 2;
  }
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  int error = 0;
  zip_t *zip = zip_open(argv[1], ZIP_RDONLY, &error);
  if (zip == nullptr) return 1;
  const zip_int64_t count = zip_get_num_entries(zip, 0);
  std::vector<char> out(64 << 20), raw(64 << 20);
  libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  std::vector<double> zlib_times, deflate_times;
  uint64_t bytes = 0;
  for (int r = 0; r < reps; ++r) {
    double zlib_s = 0, deflate_s = 0;
    bytes = 0;
    for (zip_int64_t i = 0; i < count; ++i) {
      zip_stat_t st;
      zip_stat_index(zip, i, 0, &st);
      if (st.comp_method != ZIP_CM_DEFLATE || st.size > out.size()) continue;
      bytes += st.size;
      auto t0 = Clock::now();
      zip_file_t *f = zip_fopen_index(zip, i, 0);
      while (zip_fread(f, out.data(), out.size()) > 0) {
      }
      zip_fclose(f);
      auto t1 = Clock::now();
      zip_file_t *c = zip_fopen_index(zip, i, ZIP_FL_COMPRESSED);
      zip_int64_t n = zip_fread(c, raw.data(), raw.size());
      zip_fclose(c);
      auto t2 = Clock::now();
      size_t got = 0;
      libdeflate_deflate_decompress(d, raw.data(), n, out.data(), st.size, &got);
      uint32_t crc = libdeflate_crc32(0, out.data(), got);
      auto t3 = Clock::now();
      if (got != st.size || crc != st.crc) std::fprintf(stderr, "mismatch at %s\n", st.name);
      zlib_s += std::chrono::duration<double>(t1 - t0).count();
      // libdeflate needs the compressed bytes in memory first: that read is counted too.
      deflate_s += std::chrono::duration<double>(t3 - t1).count();
    }
    zlib_times.push_back(zlib_s);
    deflate_times.push_back(deflate_s);
  }
  std::printf("inflate %.1f MB from %s, %d reps, medians\n", bytes / 1e6, argv[1], reps);
  std::printf("  libzip (zlib) inflate + crc   %.3f s  %.0f MB/s\n", median(zlib_times),
              bytes / 1e6 / median(zlib_times));
  std::printf("  libdeflate inflate + crc      %.3f s  %.0f MB/s  (%.2fx faster)\n",
              median(deflate_times), bytes / 1e6 / median(deflate_times),
              median(zlib_times) / median(deflate_times));
  libdeflate_free_decompressor(d);
  zip_discard(zip);
  return 0;
}
