// ThreadSanitizer annotations for Debian's prebuilt Abseil, linked into the test executables of
// the TSan CI build only (.ci/steps/21-tsan compiles it; it is not part of the normal build).
//
// absl::Mutex tells TSan about its lock and unlock edges only when Abseil itself is compiled with
// -fsanitize=thread (ABSL_TSAN_MUTEX_* in absl/synchronization/mutex.cc). Debian ships it
// uninstrumented, so every access guarded by an absl::Mutex would be reported as a race. These
// definitions interpose the public Mutex/CondVar entry points (the executable's definition wins
// over the shared library's, for the executable and for every library that calls them), call the
// real function found with dlsym(RTLD_NEXT) and add the happens-before edges a mutex implies:
// release before giving the lock up, acquire once it is held again. The symbol names are those of
// Debian 12's libabsl (inline namespace debian3); a missing one aborts with its name.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

template <typename F>
F Real(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: %s not found in libabsl_synchronization\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(fn);
}

}  // namespace

// Each entry: the mangled name, the shim, and where the edges go. Member functions take `this`
// first in the Itanium C++ ABI, so a free function with the same parameters calls them.
#define K8SLB_SHIM(ret, name, shim, params, args, before, after)       \
  extern "C" ret shim params __asm__(name);                             \
  extern "C" ret shim params {                                          \
    static const auto real = Real<ret(*) params>(name);                 \
    before;                                                             \
    ret r = real args;                                                  \
    after;                                                              \
    return r;                                                           \
  }
#define K8SLB_SHIM_VOID(name, shim, params, args, before, after)        \
  extern "C" void shim params __asm__(name);                            \
  extern "C" void shim params {                                         \
    static const auto real = Real<void(*) params>(name);                \
    before;                                                             \
    real args;                                                          \
    after;                                                              \
  }

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Time;

K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex4LockEv", ShimLock, (Mutex * mu), (mu), , __tsan_acquire(mu))
K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex10ReaderLockEv", ShimReaderLock, (Mutex * mu), (mu), , __tsan_acquire(mu))
K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex6UnlockEv", ShimUnlock, (Mutex * mu), (mu), __tsan_release(mu), )
K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex12ReaderUnlockEv", ShimReaderUnlock, (Mutex * mu), (mu), __tsan_release(mu), )
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex7TryLockEv", ShimTryLock, (Mutex * mu), (mu), ,
           if (r) __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex13ReaderTryLockEv", ShimReaderTryLock, (Mutex * mu), (mu), ,
           if (r) __tsan_acquire(mu))
// A Condition is evaluated inside Abseil: by the waiter after it took the lock but before the shim
// returns (LockWhen*), by the waiter when it is woken (Await*), or by another thread releasing the
// lock on the waiter's behalf. Abseil's own TSan build annotates each evaluation as done under the
// lock (EvalConditionAnnotated in absl/synchronization/mutex.cc); here every condition is wrapped
// so that each evaluation is a critical section of the mutex (acquire before, release after),
// whichever thread runs it.
namespace {
struct AnnotatedCondition {
  const Condition* condition;
  Mutex* mu;
  static bool Eval(void* arg) {
    auto* self = static_cast<AnnotatedCondition*>(arg);
    __tsan_acquire(self->mu);
    const bool result = self->condition->Eval();
    __tsan_release(self->mu);  // the evaluation's reads happen before the next holder's writes
    return result;
  }
};
}  // namespace
#define K8SLB_WRAP(c) AnnotatedCondition wrapped{&(c), mu}; const Condition annotated(&AnnotatedCondition::Eval, &wrapped)

K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", ShimLockWhen,
                (Mutex * mu, const Condition& c), (mu, annotated), K8SLB_WRAP(c), __tsan_acquire(mu))
K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", ShimReaderLockWhen,
                (Mutex * mu, const Condition& c), (mu, annotated), K8SLB_WRAP(c), __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
           ShimLockWhenWithTimeout, (Mutex * mu, const Condition& c, Duration d), (mu, annotated, d), K8SLB_WRAP(c),
           __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
           ShimLockWhenWithDeadline, (Mutex * mu, const Condition& c, Time t), (mu, annotated, t), K8SLB_WRAP(c),
           __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
           ShimReaderLockWhenWithTimeout, (Mutex * mu, const Condition& c, Duration d), (mu, annotated, d),
           K8SLB_WRAP(c), __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
           ShimReaderLockWhenWithDeadline, (Mutex * mu, const Condition& c, Time t), (mu, annotated, t),
           K8SLB_WRAP(c), __tsan_acquire(mu))
// Await gives the lock up while it waits and holds it again when it returns.
K8SLB_SHIM_VOID("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", ShimAwait, (Mutex * mu, const Condition& c),
                (mu, annotated), K8SLB_WRAP(c); __tsan_release(mu), __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
           ShimAwaitWithTimeout, (Mutex * mu, const Condition& c, Duration d), (mu, annotated, d),
           K8SLB_WRAP(c); __tsan_release(mu), __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
           ShimAwaitWithDeadline, (Mutex * mu, const Condition& c, Time t), (mu, annotated, t),
           K8SLB_WRAP(c); __tsan_release(mu), __tsan_acquire(mu))
// CondVar::Wait gives the lock up while it waits and holds it again when it returns.
K8SLB_SHIM_VOID("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", ShimCondVarWait, (CondVar * cv, Mutex* mu),
                (cv, mu), __tsan_release(mu), __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
           ShimCondVarWaitWithTimeout, (CondVar * cv, Mutex* mu, Duration d), (cv, mu, d), __tsan_release(mu),
           __tsan_acquire(mu))
K8SLB_SHIM(bool, "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
           ShimCondVarWaitWithDeadline, (CondVar * cv, Mutex* mu, Time t), (cv, mu, t), __tsan_release(mu),
           __tsan_acquire(mu))
