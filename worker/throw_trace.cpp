// Records the stack of every throw made inside a worker's task (see throw_trace.hpp).
//
// How: this file defines __cxa_throw, the C++ ABI function a `throw` expression calls. Because
// the definition is in the program (libshoal is linked into it), the dynamic linker binds every
// throw to it, the C++ runtime's own throws (std::vector::at, std::stoi) included, and the
// original is found with dlsym(RTLD_NEXT). Under AddressSanitizer the next definition is ASan's
// interceptor, which then calls the C++ runtime's, so both still run. This object file is always
// linked: the worker loop uses ThrowTrace, so the linker cannot leave it out of libshoal.a.
//
// Cost: outside an armed task, one thread-local load and a branch per throw. Inside one, a walk of
// the stack with _Unwind_Backtrace into a fixed ring (no allocation, no symbol lookup): a few
// microseconds, paid by tasks that throw. Symbols are looked up only when a task fails.
//
// Rejected: capturing in the catch handler (the stack is already unwound there); Boost's
// from_current_exception (needs Boost 1.85); a full boost::stacktrace::stacktrace per throw (it
// allocates, in a path that may run when memory is short).
#include "worker/throw_trace.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <cxxabi.h>
#include <dlfcn.h>
#include <unwind.h>

namespace shoal::internal {
namespace {

// The trace armed on this thread, if any. A pointer in TLS: reading it needs no lock, and only
// the thread itself ever writes it.
constinit thread_local ThrowTrace* t_armed = nullptr;

struct Walk {
  const void* start = nullptr;  // the thrower's return address: frames before it are ours
  std::uintptr_t boundary = 0;
  std::uintptr_t pending = 0;  // the previous frame's address, kept until we know it is the task's
  const void** frames = nullptr;
  std::size_t depth = 0;
};

// _Unwind_GetCFA() in a frame's callback gives that frame's stack pointer at its call, which is
// the CFA of the frame visited before (its callee). So a frame is known to lie below the boundary
// (in the task, not in the worker loop) only when its caller is visited: it waits in `pending`.
_Unwind_Reason_Code visit_frame(_Unwind_Context* context, void* arg) {
  Walk& w = *static_cast<Walk*>(arg);
  int before_instruction = 0;
  std::uintptr_t ip = _Unwind_GetIPInfo(context, &before_instruction);
  if (ip == 0) return _URC_END_OF_STACK;
  if (w.pending == 0 && reinterpret_cast<const void*>(ip) != w.start) {
    return _URC_NO_REASON;  // record(), on_throw() and __cxa_throw: not the thrower yet
  }
  if (w.pending != 0) {
    if (_Unwind_GetCFA(context) > w.boundary) return _URC_END_OF_STACK;  // the worker loop's
    w.frames[w.depth++] = reinterpret_cast<const void*>(w.pending);
    if (w.depth == ThrowTrace::kMaxFrames) return _URC_END_OF_STACK;
  }
  // A return address points after its call, which for a call to a noreturn function such as
  // __cxa_throw may be the first byte of the next function: name the call instruction instead.
  if (before_instruction == 0) --ip;
  w.pending = ip;
  return _URC_NO_REASON;
}

}  // namespace

ThrowTrace::Armed::Armed(ThrowTrace& trace, const void* boundary) noexcept : previous_(t_armed) {
  for (Record& r : trace.records_) r = Record{};
  trace.next_ = 0;
  trace.boundary_ = reinterpret_cast<std::uintptr_t>(boundary);
  t_armed = &trace;
}

// A task that ran a task in its own thread (local mode) gets its own recording back.
ThrowTrace::Armed::~Armed() { t_armed = previous_; }

void ThrowTrace::on_throw(void* object, const std::type_info* type, const void* thrower) noexcept {
  if (ThrowTrace* trace = t_armed; trace != nullptr) trace->record(object, type, thrower);
}

// The walk starts in this frame and skips frames up to the thrower's, found by its return
// address, so it does not depend on what the compiler inlined.
void ThrowTrace::record(void* object, const std::type_info* type, const void* thrower) noexcept {
  Record& r = records_[next_];
  next_ = (next_ + 1) % kRecords;
  r.object = object;
  r.type = type;
  r.depth = 0;
  Walk w;
  w.start = thrower;
  w.boundary = boundary_;
  w.frames = r.frames;
  _Unwind_Backtrace(&visit_frame, &w);
  r.depth = w.depth;
}

void ThrowTrace::on_allocate(const void* object) noexcept {
  ThrowTrace* trace = t_armed;
  if (trace == nullptr) return;
  for (Record& r : trace->records_) {
    if (r.object == object) r = Record{};
  }
}

const ThrowTrace::Record* ThrowTrace::find(const void* object,
                                           const std::type_info* type) const noexcept {
  for (std::size_t i = 1; i <= kRecords; ++i) {  // newest first: addresses are reused
    const Record& r = records_[(next_ + kRecords - i) % kRecords];
    if (r.type == nullptr || r.depth == 0 || *r.type != *type) continue;
    if (object == nullptr || r.object == object) return &r;
  }
  return nullptr;
}

std::vector<const void*> ThrowTrace::frames_of_current() const {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return {};
  // The thrown object's address tells this exception from an earlier one of the same type. For a
  // std::exception it is the most-derived object, the one __cxa_throw received; rethrowing with
  // `throw;` goes through __cxa_rethrow, so it records nothing.
  const void* object = nullptr;
  try {
    throw;
  } catch (const std::exception& e) {
    object = dynamic_cast<const void*>(&e);
  } catch (...) {  // not a std::exception: match the newest throw of its type
  }
  const Record* r = find(object, type);
  if (r == nullptr) return {};
  return std::vector<const void*>(r->frames, r->frames + r->depth);
}

}  // namespace shoal::internal

namespace {

using CxaThrow = void (*)(void*, std::type_info*, void (*)(void*));
using CxaAllocateException = void* (*)(std::size_t);

// The definition these functions hide: the C++ runtime's, or a sanitizer's interceptor.
template <class Fn>
Fn next_definition(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    // Nothing can be thrown without it; say why before the process ends.
    std::fprintf(stderr,
                 "shoal: the C++ runtime's %s was not found (is libstdc++ linked "
                 "statically? shoal needs it as a shared library)\n",
                 name);
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

CxaThrow next_cxa_throw() {
  static const auto next = next_definition<CxaThrow>("__cxa_throw");
  return next;
}

CxaAllocateException next_cxa_allocate_exception() {
  static const auto next = next_definition<CxaAllocateException>("__cxa_allocate_exception");
  return next;
}

// Looked up when the program starts, not at the first throw: std::bad_alloc is thrown when memory
// is short, and dlsym() may need some.
[[maybe_unused]] const bool g_resolved = (next_cxa_throw(), next_cxa_allocate_exception(), true);

}  // namespace

// The C++ ABI's entry points, as declared in <cxxabi.h> (the compiler checks that the signatures
// agree).
namespace __cxxabiv1 {

extern "C" void __cxa_throw(void* object, std::type_info* type, void (*destructor)(void*)) {
  shoal::internal::ThrowTrace::on_throw(object, type, __builtin_return_address(0));
  next_cxa_throw()(object, type, destructor);
  std::abort();  // not reached: the real __cxa_throw does not return
}

extern "C" void* __cxa_allocate_exception(std::size_t size) noexcept {
  void* object = next_cxa_allocate_exception()(size);
  shoal::internal::ThrowTrace::on_allocate(object);
  return object;
}

}  // namespace __cxxabiv1
