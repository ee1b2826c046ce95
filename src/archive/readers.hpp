// Format readers: each walks one archive and feeds its entries to a TreeWriter.
#pragma once

#include <filesystem>

#include "archive/tree_writer.hpp"

namespace pyenv::archive {

void read_zip(const std::filesystem::path &archive, TreeWriter &out, const Logger &log);
void read_tar(const std::filesystem::path &archive, TreeWriter &out, const Logger &log);

}  // namespace pyenv::archive
