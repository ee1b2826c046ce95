// Process-wide sharing of staged jobs: managers of one job id and one dependency
// configuration share one base directory, counted. Only the slot of a job is locked while
// it is prepared, so one job's slow open never delays another's.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "env/staging.hpp"

namespace pyenv {

class JobRegistry {
 public:
  struct Slot;
  // A counted use of a staged job; give it back with release().
  struct Lease {
    std::string key;
    std::shared_ptr<Slot> slot;
    std::shared_ptr<const StagedJob> job;
  };

  static JobRegistry &instance();

  // Returns the staged job of `key`, calling `prepare` when no manager holds it yet. Callers
  // for the same key wait for the one preparing; a failed preparation is not shared.
  Lease acquire(const std::string &key, const std::function<StagedJob()> &prepare);

  // Gives a lease back. The last one removes the base directory and returns what could not
  // be removed (empty on success).
  std::vector<std::string> release(Lease &lease);

 private:
  void drop(const std::string &key, const std::shared_ptr<Slot> &slot,
            std::shared_ptr<const StagedJob> &last);

  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;
};

}  // namespace pyenv
