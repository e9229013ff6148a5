// The worker threads behind blocked_sum (see fastloss/blocked_sum.hpp).
//
// Blocks are claimed one at a time from a shared counter by the calling thread
// and by the workers, and the caller waits only for blocks that have been
// claimed: a worker that is not running (descheduled by another process, or
// still waking up) claims nothing and holds nobody back. An OpenMP parallel
// region would wait at its closing barrier for every thread of the team, which
// on a busy machine costs a scheduler time slice (milliseconds) per call.
//
// The thread count still comes from OpenMP (omp_get_max_threads, which
// threadpoolctl limits) and fastloss.set_num_threads; see dispatch.cpp.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "fastloss/blocked_sum.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTLOSS_PAUSE() _mm_pause()
#else
#define FASTLOSS_PAUSE() ((void)0)
#endif

namespace fastloss {

namespace {

// Pause iterations a worker keeps looking for the next job before it sleeps
// (about 20-50 µs: back-to-back calls find it awake, an idle process does not spin).
constexpr int kSpin = 4000;

class Pool {
 public:
  void run(index_t blocks, int threads, BlockFn fn, void* ctx) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || blocks >= (index_t(1) << 31)) {  // another call is using the workers
      for (index_t b = 0; b < blocks; ++b) fn(ctx, b);
      return;
    }
    ensure_workers(threads - 1);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    blocks_.store(blocks, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    wanted_.store(threads - 1, std::memory_order_relaxed);
    const std::uint32_t gen = ++generation_;
    {
      std::lock_guard<std::mutex> lock(m_);
      state_.store(std::uint64_t(gen) << 32, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_relaxed) > 0) cv_.notify_all();
    work(gen);
    // Only claimed blocks are waited for.
    for (int spin = 0; done_.load(std::memory_order_acquire) < blocks; ++spin) {
      if (spin < kSpin) FASTLOSS_PAUSE();
      else std::this_thread::yield();
    }
  }

 private:
  // Runs blocks of job `gen` while there are unclaimed ones.
  void work(std::uint32_t gen) {
    std::uint64_t cur = state_.load(std::memory_order_acquire);
    // The job's fields were written before its generation was published.
    const index_t blocks = blocks_.load(std::memory_order_relaxed);
    const BlockFn fn = fn_.load(std::memory_order_relaxed);
    void* const ctx = ctx_.load(std::memory_order_relaxed);
    while ((cur >> 32) == gen && static_cast<index_t>(cur & 0xffffffffu) < blocks) {
      // The claim fails if the job changed meanwhile, so fn and ctx are this job's.
      if (state_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        fn(ctx, static_cast<index_t>(cur & 0xffffffffu));
        done_.fetch_add(1, std::memory_order_release);
        cur = state_.load(std::memory_order_acquire);
      }
    }
  }

  void worker(int id) {
    std::uint32_t seen = static_cast<std::uint32_t>(state_.load(std::memory_order_acquire) >> 32);
    for (;;) {
      const std::uint32_t gen = static_cast<std::uint32_t>(state_.load(std::memory_order_acquire) >> 32);
      if (gen != seen) {
        seen = gen;
        if (id < wanted_.load(std::memory_order_relaxed)) work(gen);
        continue;
      }
      bool changed = false;
      for (int i = 0; i < kSpin && !changed; ++i) {
        FASTLOSS_PAUSE();
        changed = static_cast<std::uint32_t>(state_.load(std::memory_order_relaxed) >> 32) != seen;
      }
      if (changed) continue;
      std::unique_lock<std::mutex> lock(m_);
      sleepers_.fetch_add(1, std::memory_order_relaxed);
      cv_.wait(lock, [&] { return static_cast<std::uint32_t>(state_.load(std::memory_order_acquire) >> 32) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      const int id = static_cast<int>(workers_.size());
      workers_.emplace_back([this, id] { worker(id); });
      workers_.back().detach();
    }
  }

  std::mutex busy_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> state_{0};  // generation << 32 | next unclaimed block
  std::uint32_t generation_ = 0;         // written under busy_
  std::atomic<index_t> blocks_{0};
  std::atomic<index_t> done_{0};
  std::atomic<BlockFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> wanted_{0};
  std::atomic<int> sleepers_{0};
  std::vector<std::thread> workers_;
};

// One pool per process: a child of fork() has none of its parent's threads, so it
// starts a new pool (the parent's object is left alone, never destroyed).
Pool& pool() {
  static std::atomic<Pool*> current{nullptr};
  static std::atomic<pid_t> owner{0};
  static std::mutex creating;
  const pid_t pid = getpid();
  Pool* p = current.load(std::memory_order_acquire);
  if (p != nullptr && owner.load(std::memory_order_acquire) == pid) return *p;
  std::lock_guard<std::mutex> lock(creating);
  p = current.load(std::memory_order_acquire);
  if (p == nullptr || owner.load(std::memory_order_acquire) != pid) {
    p = new Pool;  // intentionally never deleted (workers may outlive static destructors)
    owner.store(pid, std::memory_order_release);
    current.store(p, std::memory_order_release);
  }
  return *p;
}

}  // namespace

void parallel_blocks(index_t blocks, int threads, BlockFn fn, void* ctx) {
  if (threads <= 1 || blocks <= 1) {
    for (index_t b = 0; b < blocks; ++b) fn(ctx, b);
    return;
  }
  pool().run(blocks, threads, fn, ctx);
}

}  // namespace fastloss
