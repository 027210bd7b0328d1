// The one table of the multi-call binary's commands. Each is installed as
// bin/cyr_<name> (a link to bin/cyrus) and can also be run as
// "cyrus <name> args...". Keep ops/commands.cmake in step.
#pragma once

#include <span>
#include <string_view>

namespace cyr::ops {

using CommandMain = int (*)(int argc, char** argv);

struct CommandSpec {
  std::string_view name;     // without the cyr_ prefix
  CommandMain main;
  std::string_view summary;  // one line for "cyrus --help"
};

std::span<const CommandSpec> commands();
const CommandSpec* find_command(std::string_view name);

// Each command's entry point, defined in its own file under ops/ (or wired
// there from the module that implements it).
int master_main(int argc, char** argv);
int info_main(int argc, char** argv);
int passwd_main(int argc, char** argv);

}  // namespace cyr::ops
