#include <iostream>

#include <shoal/shoal.hpp>

int triple(int x) { return 3 * x; }
SHOAL_REMOTE(triple);

int main() {
  shoal::Config config;
  config.num_cpus = 2;
  config.object_store_memory = 64u << 20;
  shoal::init(config);
  std::cout << "consumer: " << shoal::get(shoal::task(triple).remote(2)) << "\n";
}
