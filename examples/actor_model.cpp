// An actor: expensive state built once, then called many times. The Ray version would read:
//
//   class Model:
//       def __init__(self, size):
//           self.weights = train(size)          # slow
//       def score(self, x):
//           return x @ self.weights @ x         # fast
//
//   model = ray.remote(Model).remote(size)      # an actor: builds the model once, in its process
//   scores = ray.get([model.score.remote(x) for x in inputs])
//
//   @ray.remote
//   def score_once(size, x):                    # the same work as plain tasks:
//       return Model(size).score(x)             # each call builds a model of its own
//
// Here the "model" is a SIZE x SIZE matrix W = AᵀA, SIZE³ multiply-adds to build (1.3 billion at
// the default size), and scoring an input x is xᵀWx (SIZE²). The program scores CALLS inputs both
// ways, prints both times and their ratio, and exits 1 if the two sets of scores differ.
//
//   actor_model [CALLS [SIZE]]
//
// Defaults: 20 calls, SIZE 1100 (a model takes about 0.2-0.5 s to build, depending on the CPU).
// The tasks rebuild the model CALLS times, spread over every worker; the actor builds it once and
// answers the calls one after another, in its own process.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

using Vector = std::vector<double>;

// A deterministic pseudo-random number in [-1, 1) for position (i, j): the "training data".
double data_at(std::uint64_t i, std::uint64_t j) {
  std::uint64_t h = (i * 0x9E3779B97F4A7C15ull) ^ (j + 0xBF58476D1CE4E5B9ull);
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return static_cast<double>(h >> 11) / static_cast<double>(1ull << 52) - 1.0;
}

// The actor's class: a plain C++ class. Its state lives in the actor's process between calls.
class Model {
 public:
  // The expensive part: W = AᵀA for a SIZE x SIZE matrix A, row by row (size³ multiply-adds).
  explicit Model(int size) : n_(static_cast<std::size_t>(size)), w_(n_ * n_, 0.0) {
    Vector a(n_ * n_);
    for (std::size_t i = 0; i < n_; ++i) {
      for (std::size_t j = 0; j < n_; ++j) a[i * n_ + j] = data_at(i, j);
    }
    for (std::size_t k = 0; k < n_; ++k) {  // W += (row k of A)ᵀ (row k of A)
      for (std::size_t i = 0; i < n_; ++i) {
        const double aki = a[k * n_ + i];
        for (std::size_t j = 0; j < n_; ++j) w_[i * n_ + j] += aki * a[k * n_ + j];
      }
    }
  }

  // The cheap part: xᵀWx (size² multiply-adds).
  double score(const Vector& x) const {
    double total = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      double row = 0;
      for (std::size_t j = 0; j < n_; ++j) row += w_[i * n_ + j] * x[j];
      total += x[i] * row;
    }
    return total;
  }

 private:
  std::size_t n_;
  Vector w_;
};
// Makes Model an actor class and lists the methods callers may call (Ray's @ray.remote class).
SHOAL_ACTOR(Model, &Model::score);

// The same work as a plain task: build the model, score one input, throw the model away.
double score_once(int size, const Vector& x) { return Model(size).score(x); }
SHOAL_REMOTE(score_once);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::stoi(argv[1]) : 20;
  const int size = argc > 2 ? std::stoi(argv[2]) : 1100;
  if (calls < 1 || size < 1) {
    std::cerr << "usage: actor_model [CALLS >= 1 [SIZE >= 1]]\n";
    return 2;
  }
  shoal::init();  // one worker process per CPU
  const auto cpus = static_cast<int>(shoal::cluster_resources()["CPU"]);

  std::vector<Vector> inputs(static_cast<std::size_t>(calls),
                             Vector(static_cast<std::size_t>(size)));
  for (std::size_t c = 0; c < inputs.size(); ++c) {
    for (std::size_t j = 0; j < inputs[c].size(); ++j) inputs[c][j] = data_at(c + 1'000'000, j);
  }

  // 1. Plain tasks: each call builds its own model. They run on every worker at once.
  auto start = std::chrono::steady_clock::now();
  std::vector<shoal::ObjectRef<double>> refs;
  for (const Vector& x : inputs) refs.push_back(shoal::task(score_once).remote(size, x));
  const std::vector<double> task_scores = shoal::get(refs);
  const double tasks_s = seconds_since(start);

  // 2. An actor: the constructor runs once, in the actor's own process (holding one CPU), and
  // every call reuses its model. Calls to one actor run one at a time, in the order submitted.
  start = std::chrono::steady_clock::now();
  std::vector<double> actor_scores;
  {
    shoal::ActorHandle<Model> model = shoal::actor<Model>().remote(size);  // Model.remote(size)
    refs.clear();
    for (const Vector& x : inputs) refs.push_back(model.task(&Model::score).remote(x));
    actor_scores = shoal::get(refs);
  }  // the last handle is gone: the actor's destructor runs in its process, which then exits
  const double actor_s = seconds_since(start);

  std::cout << std::fixed << std::setprecision(3) << calls << " calls, model of " << size << " x "
            << size << ", " << cpus << " workers\n"
            << "  tasks, each building the model:   " << tasks_s << " s\n"
            << "  one actor, building it once:      " << actor_s << " s\n"
            << "  tasks / actor:                    " << std::setprecision(1) << tasks_s / actor_s
            << "x\n";
  // The same code on the same inputs: the scores must be equal, bit for bit.
  if (actor_scores != task_scores) {
    std::cerr << "actor_model: the actor's scores differ from the tasks'\n";
    return 1;
  }
  return 0;  // shoal shuts down at exit
}
