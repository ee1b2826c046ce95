// README.md's YAML key reference stays in step with the parser: every key the parser knows
// has a row in the table, and every row names a key the parser knows.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pyenv {
namespace {

// The section of README.md that holds the key table, up to the next "## " heading.
constexpr char kSection[] = "## YAML key reference";

std::string readme_section() {
  std::ifstream in(PYENV_README_PATH);
  EXPECT_TRUE(in) << "cannot read " << PYENV_README_PATH;
  std::string line;
  std::string section;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) inside = line == kSection;
    if (inside) section += line + "\n";
  }
  return section;
}

// The keys in the first column of the section's table rows: "| `python.files` | ...".
std::vector<std::string> documented_keys() {
  std::vector<std::string> keys;
  std::istringstream section(readme_section());
  const std::regex row(R"(^\|\s*`([^`]+)`\s*\|)");
  std::string line;
  std::smatch match;
  while (std::getline(section, line)) {
    if (std::regex_search(line, match, row)) keys.push_back(match[1]);
  }
  return keys;
}

TEST(Readme, HasTheKeyReferenceSection) {
  EXPECT_NE(readme_section(), "") << PYENV_README_PATH << " has no \"" << kSection << "\"";
}

TEST(Readme, DocumentsEveryKeyTheParserKnows) {
  const std::vector<std::string> documented = documented_keys();
  const std::set<std::string> in_readme(documented.begin(), documented.end());
  for (const std::string &key : known_config_keys()) {
    EXPECT_TRUE(in_readme.count(key)) << key << " is known to the parser but has no row in "
                                      << "README.md's \"" << kSection << "\" table";
  }
}

TEST(Readme, DocumentsOnlyKeysTheParserKnows) {
  const std::vector<std::string> known_list = known_config_keys();
  const std::set<std::string> known(known_list.begin(), known_list.end());
  std::set<std::string> seen;
  for (const std::string &key : documented_keys()) {
    EXPECT_TRUE(known.count(key)) << "README.md documents " << key
                                  << ", which the parser does not know";
    EXPECT_TRUE(seen.insert(key).second) << "README.md documents " << key << " twice";
  }
}

}  // namespace
}  // namespace pyenv
