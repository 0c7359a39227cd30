// Parallel merge sort with tasks that start tasks. The Ray version would read:
//
//   @ray.remote
//   def sort(v, cutoff):
//       if len(v) <= cutoff:
//           return sorted(v)
//       mid = len(v) // 2
//       left, right = sort.remote(v[:mid], cutoff), sort.remote(v[mid:], cutoff)
//       return merge(ray.get(left), ray.get(right))
//
// A task above the cutoff sorts its two halves as child tasks and merges what they return. While
// it waits in get(), its worker gives its CPU back and may run the children itself, so a deep
// tree never runs out of workers. The program sorts COUNT random numbers this way and with
// std::sort, prints both times and the speed-up, and exits 1 if the results differ.
//
//   parallel_sort [COUNT [CUTOFF]]
//
// Defaults: 20,000,000 numbers; CUTOFF = COUNT / (2 x CPUs), two slices per worker, enough to keep
// every worker busy (each level of the tree copies every number once more).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

using Numbers = std::vector<std::uint32_t>;

Numbers sort_numbers(Numbers v, std::size_t cutoff) {
  if (v.size() <= cutoff) {
    std::sort(v.begin(), v.end());
    return v;
  }
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  auto left = shoal::task(sort_numbers).remote(Numbers(v.begin(), mid), cutoff);
  auto right = shoal::task(sort_numbers).remote(Numbers(mid, v.end()), cutoff);

  // Merge straight out of the object store: get_view() reads a result in place, without a copy.
  const shoal::View<Numbers> a = shoal::get_view(left);
  const shoal::View<Numbers> b = shoal::get_view(right);
  std::merge(a.begin(), a.end(), b.begin(), b.end(), v.begin());
  return v;
}
SHOAL_REMOTE(sort_numbers);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char** argv) {
  shoal::init();  // one worker process per CPU
  const auto cpus = static_cast<std::size_t>(shoal::cluster_resources()["CPU"]);
  const std::size_t count = argc > 1 ? std::stoull(argv[1]) : 20'000'000;
  const std::size_t cutoff = std::max<std::size_t>(
      argc > 2 ? std::stoull(argv[2]) : count / (2 * cpus), 1);  // a slice of 1 is sorted

  std::mt19937 rng(42);
  Numbers numbers(count);
  for (auto& x : numbers) x = static_cast<std::uint32_t>(rng());

  auto start = std::chrono::steady_clock::now();
  const Numbers sorted = shoal::get(shoal::task(sort_numbers).remote(numbers, cutoff));
  const double shoal_s = seconds_since(start);

  Numbers expected = numbers;
  start = std::chrono::steady_clock::now();
  std::sort(expected.begin(), expected.end());
  const double std_s = seconds_since(start);

  std::cout << std::fixed << std::setprecision(3) << count << " numbers, cutoff " << cutoff << ", "
            << cpus << " workers\n"
            << "  shoal merge sort: " << shoal_s << " s\n"
            << "  std::sort:        " << std_s << " s\n"
            << "  speed-up:         " << std_s / shoal_s << "x\n";
  if (sorted != expected) {
    std::cerr << "parallel_sort: the result differs from std::sort's\n";
    return 1;
  }
  return 0;  // shoal shuts down at exit
}
