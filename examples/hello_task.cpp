// The smallest shoal program: register a function, start the workers, run tasks, read results.
//
//   square(1..8) --remote--> workers --get--> 1 4 9 ... 64, plus a dependent task and put().
#include <iostream>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
std::string greet(const std::string& name) { return "hello, " + name; }
SHOAL_REMOTE(square, add, greet);

int main() {
  shoal::init();  // one worker process per CPU

  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 1; i <= 8; ++i) refs.push_back(shoal::task(square).remote(i));
  for (int v : shoal::get(refs)) std::cout << v << " ";
  std::cout << "\n";

  // An ObjectRef passed where the function takes an int is a dependency: add runs once both
  // squares exist, and reads them from the store without a trip through this program.
  auto sum = shoal::task(add).remote(refs[2], refs[3]);
  std::cout << "9 + 16 = " << shoal::get(sum) << "\n";

  auto name = shoal::put(std::string("shoal"));
  std::cout << shoal::get(shoal::task(greet).remote(name)) << "\n";
  return 0;  // shoal shuts down at exit
}
