#include <gtest/gtest.h>

#include "env/environment.hpp"

namespace pyenv {
namespace {

TEST(EnvironmentJson, HasExactlyTheDesignMembers) {
  Environment env;
  env.python_exec = "python";
  env.paths = {"/a", "/b"};
  env.variables = {{"B", "2"}, {"A", "1"}};
  EXPECT_EQ(env.to_json(),
            "{\"exec_type\": \"MULTI_THREAD\", \"python_exec\": \"python\", \"python_home\": null, "
            "\"working_directory\": null, \"paths\": [\"/a\", \"/b\"], \"env\": {\"A\": \"1\", "
            "\"B\": \"2\"}}");
  env.python_home = "/h";
  env.working_directory = "/w";
  EXPECT_NE(env.to_json().find("\"python_home\": \"/h\", \"working_directory\": \"/w\""),
            std::string::npos);
}

TEST(EnvironmentJson, EscapesEverythingJsonNeeds) {
  EXPECT_EQ(json_string("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");           // valid UTF-8 kept
  EXPECT_EQ(json_string("\xff"), "\"\xef\xbf\xbd\"");                  // invalid byte replaced
  EXPECT_EQ(json_string("\xc3"), "\"\xef\xbf\xbd\"");                  // truncated sequence
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");  // overlong
}

}  // namespace
}  // namespace pyenv
