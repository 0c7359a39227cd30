// Helpers for tests that check processes and leaks from the outside: which processes exist, what
// a process has open, what is in /dev/shm. Everything reads /proc; nothing here kills by name.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shoal::testing {

/// True if pid names a process that has not exited (a zombie counts as exited).
bool process_alive(pid_t pid);
/// The parent pid of pid, or -1.
pid_t parent_of(pid_t pid);
/// Number of threads of pid.
int thread_count(pid_t pid);
/// Direct children of pid (all its threads'), from /proc/<pid>/task/*/children.
std::vector<pid_t> children_of(pid_t pid);
/// Open file descriptors of this process.
int open_fd_count();
/// Names in /dev/shm that contain "shoal" (case-insensitive).
std::vector<std::string> shoal_shm_entries();
/// Socket files under /tmp and /run whose name contains "shoal".
std::vector<std::string> shoal_socket_files();
/// Polls cond every millisecond until it holds or `limit` passes; returns its last value.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit);

}  // namespace shoal::testing
