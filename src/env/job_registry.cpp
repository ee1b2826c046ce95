#include "env/job_registry.hpp"

#include "util/fs.hpp"

namespace pyenv {

struct JobRegistry::Slot {
  std::mutex preparing;                  // held while the job is prepared
  std::shared_ptr<const StagedJob> job;  // set once prepared; read under `preparing`
  int users = 0;                         // guarded by the registry's mutex
};

JobRegistry &JobRegistry::instance() {
  static JobRegistry registry;
  return registry;
}

JobRegistry::Lease JobRegistry::acquire(const std::string &key,
                                        const std::function<StagedJob()> &prepare) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto &entry = slots_[key];
    if (!entry) entry = std::make_shared<Slot>();
    slot = entry;
    ++slot->users;
  }
  std::unique_lock<std::mutex> lock(slot->preparing);
  if (!slot->job) {
    try {
      slot->job = std::make_shared<const StagedJob>(prepare());
    } catch (...) {
      lock.unlock();
      std::shared_ptr<const StagedJob> unused;
      drop(key, slot, unused);
      throw;
    }
  }
  return Lease{key, slot, slot->job};
}

void JobRegistry::drop(const std::string &key, const std::shared_ptr<Slot> &slot,
                       std::shared_ptr<const StagedJob> &last) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--slot->users > 0) return;
  // No one else can be inside acquire() for this slot: every caller counts itself first.
  last = std::move(slot->job);
  auto it = slots_.find(key);
  if (it != slots_.end() && it->second == slot) slots_.erase(it);
}

std::vector<std::string> JobRegistry::release(Lease &lease) {
  if (!lease.slot) return {};
  std::shared_ptr<const StagedJob> last;
  drop(lease.key, lease.slot, last);
  lease = Lease{};
  if (!last) return {};
  return fsx::remove_tree(last->base_dir);
}

}  // namespace pyenv
