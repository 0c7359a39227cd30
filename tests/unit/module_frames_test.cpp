// Frames travel from a worker to the driver as (module, offset) and are named in the driver
// (issue 9, field report 6: naming them in the worker cost its first failure about 100 ms).
#include "src/common/module_frames.hpp"

#include <string>
#include <vector>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include "src/common/symbolize.hpp"

namespace {

using shoal::internal::describe_frames;
using shoal::internal::ModuleFrames;
using shoal::internal::to_module_frames;

__attribute__((noinline)) void zq_module_frames_probe() { asm volatile(""); }

TEST(ModuleFrames, AnAddressInTheProgramIsNamedFromItsOffset) {
  const auto* address = reinterpret_cast<const void*>(&zq_module_frames_probe);
  const ModuleFrames frames = to_module_frames({address});
  ASSERT_EQ(frames.frames.size(), 1u);
  ASSERT_NE(frames.frames[0].module, ModuleFrames::kNoModule);
  EXPECT_EQ(frames.modules.at(frames.frames[0].module), "") << "the main program is named \"\"";
  const std::string text = describe_frames(frames, 4096);
  EXPECT_NE(text.find("zq_module_frames_probe"), std::string::npos) << text;
  EXPECT_EQ(text.rfind("#0 ", 0), 0u) << text;
}

TEST(ModuleFrames, AnAddressInALibraryKeepsTheLibrarysName) {
  const void* address = dlsym(RTLD_DEFAULT, "__cxa_demangle");  // in libstdc++
  ASSERT_NE(address, nullptr);
  const ModuleFrames frames = to_module_frames({address});
  ASSERT_EQ(frames.frames.size(), 1u);
  ASSERT_NE(frames.frames[0].module, ModuleFrames::kNoModule);
  EXPECT_NE(frames.modules.at(frames.frames[0].module).find("libstdc++"), std::string::npos);
}

TEST(ModuleFrames, AModuleThisProcessHasNotLoadedIsShownByNameAndOffset) {
  ModuleFrames frames;
  frames.modules = {"/opt/nowhere/libnot_loaded_here.so"};
  frames.frames = {{0, 0x1a2b}};
  EXPECT_EQ(describe_frames(frames, 4096), "#0 ?? (/opt/nowhere/libnot_loaded_here.so+0x1a2b)\n");
}

TEST(ModuleFrames, AnAddressOutsideEveryModuleStaysRaw) {
  const auto* nowhere = reinterpret_cast<const void*>(std::uintptr_t{16});
  const ModuleFrames frames = to_module_frames({nowhere});
  ASSERT_EQ(frames.frames.size(), 1u);
  EXPECT_EQ(frames.frames[0].module, ModuleFrames::kNoModule);
  EXPECT_EQ(frames.frames[0].offset, 16u);
}

TEST(ModuleFrames, AtMostTheMaximumIsKeptAndTheTextIsBounded) {
  std::vector<const void*> many(ModuleFrames::kMaxFrames + 5,
                                reinterpret_cast<const void*>(&zq_module_frames_probe));
  const ModuleFrames frames = to_module_frames(many);
  EXPECT_EQ(frames.frames.size(), ModuleFrames::kMaxFrames);
  const std::string text = describe_frames(frames, 300);
  EXPECT_LE(text.size(), 300u);
  EXPECT_NE(text.find("more frames"), std::string::npos) << text;
}

}  // namespace
