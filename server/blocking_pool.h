// BlockingPool: a small, bounded set of threads for work that blocks
// (SQLite, fsync, directory scans), awaited from session coroutines.
//
// I/O threads must never block: one user's slow store operation would stall
// every session on that thread. A session does `co_await pool.run(fn)`; fn
// runs on a pool thread and the coroutine resumes on its own executor
// (its strand) with fn's result. fn returns a Result<T> (or Status); an
// exception escaping fn is turned into Errc::Internal, never rethrown into
// the session. When fn made a client write in sync_mode: sync, the
// coroutine resumes only once the replica has it, and the wait holds no pool
// thread (store/replica_wait.h). Thread-safe. The pool's threads are joined by stop() or the
// destructor; work not yet started when stop() is called is still run.
#pragma once

// <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "store/base/result.h"
#include "store/replica_wait.h"

namespace cyr::server {

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<Result<T>> : std::true_type {};

class BlockingPool {
 public:
  explicit BlockingPool(size_t threads) : pool_(threads == 0 ? 1 : threads), threads_(threads) {}
  ~BlockingPool() { stop(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  size_t threads() const { return threads_; }

  // Waits for queued work to finish and joins the threads. Idempotent.
  void stop() { pool_.join(); }

  // Runs fn() on a pool thread; the awaiting coroutine resumes on its own
  // executor with the result.
  template <class F>
  auto run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    static_assert(is_result<R>::value, "BlockingPool::run: fn must return Result<T> or Status");
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
        [this](auto handler, F f) {
          // Keep the caller's executor alive (and its io_context running)
          // while the work is away on the pool.
          auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                          boost::asio::execution::outstanding_work.tracked);
          boost::asio::post(pool_, [h = std::move(handler), f = std::move(f),
                                    home = std::move(home)]() mutable {
            store::ReplicaWaitStart wait;
            R r = [&] {
              store::DeferredReplicaWait scope;  // closed before the wait starts
              R out = invoke_catching(f);
              wait = scope.take();
              return out;
            }();
            auto resume = [h = std::move(h), r = std::move(r), home = std::move(home)]() mutable {
              boost::asio::dispatch(home, [h = std::move(h), r = std::move(r)]() mutable {
                std::move(h)(std::move(r));
              });
            };
            if (!wait) return resume();
            // The handler is move-only and std::function wants a copyable
            // callable: share it; the barrier calls done exactly once.
            auto once = std::make_shared<decltype(resume)>(std::move(resume));
            wait([once] { (*once)(); });
          });
        },
        boost::asio::use_awaitable, std::move(fn));
  }

 private:
  template <class F>
  static std::invoke_result_t<F&> invoke_catching(F& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      return Error(Errc::Internal, "Internal error", std::string("blocking work threw: ") + e.what());
    } catch (...) {
      return Error(Errc::Internal, "Internal error", "blocking work threw a non-exception");
    }
  }

  boost::asio::thread_pool pool_;
  size_t threads_;
};

}  // namespace cyr::server
