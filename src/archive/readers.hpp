// Format readers: each walks one archive and feeds its entries to a TreeWriter.
#pragma once

#include <filesystem>

#include "archive/tree_writer.hpp"

namespace pyenv::archive {

// Workers: out.limits().threads (0 = one per core), shared as out.limits().distribution says.
void read_zip(const std::filesystem::path &archive, TreeWriter &out, const Logger &log);
// `format`: what detect_format found, one of the tar formats.
void read_tar(const std::filesystem::path &archive, Format format, TreeWriter &out,
              const Logger &log);

}  // namespace pyenv::archive
