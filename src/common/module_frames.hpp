// A stack as code addresses relative to the module (the executable or a shared library) each lies
// in, so that another process of the same program can name the frames even where its modules are
// loaded at other addresses (a worker started by exec, a library loaded by one process only).
//
// Why: a failed task's worker records raw return addresses, but naming them (reading symbol and
// line tables) is slow the first time in a process (it reads them from disk;
// BM_FirstResultAndFirstFailure, docs/benchmarks.md, times a first failure without it). The worker
// therefore sends the frames in this form, and the driver names them when the program first asks
// for the text (TaskError::backtrace()), in its own address space.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shoal::internal {

struct ModuleFrames {
  /// A frame whose address lies in no loaded module: `offset` is then the raw address.
  static constexpr std::uint16_t kNoModule = 0xffff;
  /// At most this many frames and modules travel (ThrowTrace records at most 64 frames).
  static constexpr std::size_t kMaxFrames = 64;

  struct Frame {
    std::uint16_t module = kNoModule;  // index into `modules`
    std::uint64_t offset = 0;          // the address minus the module's load bias
  };
  /// Module names as the dynamic loader has them: "" is the main program, else a path.
  std::vector<std::string> modules;
  /// Innermost first.
  std::vector<Frame> frames;

  bool empty() const noexcept { return frames.empty(); }
};

/// The frames of `addresses` (innermost first, at most kMaxFrames kept), relative to the modules
/// loaded in this process. Cheap: one walk of the loaded modules' program headers, no symbol
/// lookup. Safe to call in a worker right after a task failed.
ModuleFrames to_module_frames(const std::vector<const void*>& addresses);

}  // namespace shoal::internal
