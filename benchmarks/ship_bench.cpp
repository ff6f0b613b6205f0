// swim_bench_ship: a 100,000-node binary tree moved from rank 0 to rank 1, which
// ends with a working tree of leases in its own hold, four ways, every figure from
// one run (integrations/mpi/ship.hpp):
//
//   ship/stow_one_message   swim-mem: try_ship (stow into a Parcel, one message,
//                           the Parcel freed) and try_receive (the image received
//                           straight into a Parcel of rank 1's hold, checked, rebased)
//   ship/packed_one_message the same with the tree already in a Parcel on rank 0
//                           (try_send): the cost of the message and the rebase alone
//   flat/one_message        by hand: the tree written depth first into an array of
//                           {key, value, children} records, one message, the tree
//                           rebuilt from it on rank 1 (Raw<Box<Node>> in its hold);
//                           rank 0 frees its tree after sending, as a ship does
//   per_node/messages       one message per node (the same record), the tree rebuilt
//                           as they come
//
// Each iteration's time runs from rank 0's start to rank 1's acknowledgement that
// its tree is built (MPI_Wtime, manual time); building rank 0's tree and freeing
// rank 1's are outside it. Counters: wire_bytes (bytes sent per tree), nodes.
// Iterations are fixed (both ranks must agree on them): use --benchmark_repetitions.
//
//   mpiexec -n 2 ./build/release/benchmarks/swim_bench_ship --benchmark_repetitions=5
//
// Only rank 0 reports; ranks past 1 only wait.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "swim/mem.hpp"
#include "mpi_report.hpp"
#include "swim/mem/integrations/mpi.hpp"

namespace sm = swim::mem;

namespace bench {
struct Node {
  std::int64_t key = 0;
  std::int64_t value = 0;
  sm::Raw<sm::Box<Node>> left, right;
};
}  // namespace bench

template <>
struct swim::mem::stow_traits<bench::Node>
    : stow_members<bench::Node, &bench::Node::key, &bench::Node::value, &bench::Node::left,
                   &bench::Node::right> {};

namespace {

using Tree = sm::Raw<sm::Box<bench::Node>>;
constexpr std::int64_t nodes = 100000;
int g_rank = 0;

Tree build(sm::HoldRef hold, std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return Tree{};
  const std::int64_t mid = lo + (hi - lo) / 2;
  Tree t = Tree::try_new(hold).take();
  t->key = mid;
  t->value = mid * 7;
  t->left = build(hold, lo, mid);
  t->right = build(hold, mid + 1, hi);
  return t;
}

// The hand-written format: one record per node, depth first.
struct Record {
  std::int64_t key;
  std::int64_t value;
  std::int64_t children;  // bit 0: a left child follows, bit 1: then a right one
};

void flatten(const Tree& t, std::vector<Record>& out) {
  out.push_back(Record{t->key, t->value, (t->left ? 1 : 0) | (t->right ? 2 : 0)});
  if (t->left) flatten(t->left, out);
  if (t->right) flatten(t->right, out);
}

// Rebuild from records[at...]; `next()` gives the next record.
template <class Next>
Tree rebuild(sm::HoldRef hold, Next& next) {
  const Record r = next();
  Tree t = Tree::try_new(hold).take();
  t->key = r.key;
  t->value = r.value;
  if (r.children & 1) t->left = rebuild(hold, next);
  if (r.children & 2) t->right = rebuild(hold, next);
  return t;
}

std::int64_t count(const Tree& t) { return t ? 1 + count(t->left) + count(t->right) : 0; }
std::int64_t count(const sm::Parcel<Tree>& p) { return p ? count(p.root()) : 0; }

// One iteration: prepare() on rank 0, untimed; then send(prepared) on rank 0 and
// receive() on rank 1 (which returns what holds its tree), timed from rank 0's start
// to rank 1's acknowledgement. send returns the bytes it put on the wire.
template <class Prepare, class Send, class Receive>
void run(benchmark::State& state, Prepare prepare, Send send, Receive receive) {
  std::int64_t wire = 0, got = 0;
  for (auto _ : state) {
    auto prepared = g_rank == 0 ? prepare() : decltype(prepare()){};
    MPI_Barrier(MPI_COMM_WORLD);
    double elapsed = 0;
    if (g_rank == 0) {
      const double t0 = MPI_Wtime();
      wire = send(prepared);
      int ack = 0;
      MPI_Recv(&ack, 1, MPI_INT, 1, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      elapsed = MPI_Wtime() - t0;
    } else if (g_rank == 1) {
      auto tree = receive();
      int ack = 1;
      MPI_Send(&ack, 1, MPI_INT, 0, 99, MPI_COMM_WORLD);
      got = count(tree);  // and the tree goes, untimed
    }
    MPI_Bcast(&elapsed, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    state.SetIterationTime(elapsed);
  }
  MPI_Bcast(&got, 1, MPI_INT64_T, 1, MPI_COMM_WORLD);
  if (got != nodes) state.SkipWithError("rank 1 did not get the whole tree");
  state.counters["wire_bytes"] = static_cast<double>(wire);
  state.counters["nodes"] = static_cast<double>(got);
  state.SetItemsProcessed(state.iterations() * nodes);
}

Tree fresh_tree() { return build(sm::process_hold(), 0, nodes); }

sm::Parcel<Tree> receive_parcel() {
  sm::Result<sm::Parcel<Tree>> p = sm::mpi::try_receive<Tree>(0, MPI_COMM_WORLD);
  return p ? p.take() : sm::Parcel<Tree>{};
}

// hint: the region try_pack starts with (0: 4 KiB, doubled until the tree fits; the
// tree's own image size: one try).
void ship_stow(benchmark::State& state, std::size_t hint) {
  run(
      state, fresh_tree,
      [&](Tree& t) {
        return sm::mpi::try_ship(t, 1, MPI_COMM_WORLD, sm::mpi::ship_tag, sm::process_hold(),
                                 hint) == sm::Error::none
                   ? std::int64_t(0)
                   : std::int64_t(-1);
      },
      receive_parcel);
  // The bytes try_ship put on the wire: one more tree packed and sealed, untimed.
  if (g_rank == 0) {
    Tree t = fresh_tree();
    sm::Parcel<Tree> p = sm::Parcel<Tree>::try_pack(t, sm::process_hold()).take();
    state.counters["wire_bytes"] = static_cast<double>(p.seal().size);
  }
}

void ship_packed(benchmark::State& state) {
  std::int64_t bytes = 0;
  run(
      state,
      [] {
        Tree t = fresh_tree();
        return sm::Parcel<Tree>::try_pack(t, sm::process_hold()).take();
      },
      [&](sm::Parcel<Tree>& p) {
        bytes = static_cast<std::int64_t>(p.seal().size);
        return sm::mpi::try_send(p, 1, MPI_COMM_WORLD) == sm::Error::none ? bytes
                                                                          : std::int64_t(-1);
      },
      receive_parcel);
}

void flat_one_message(benchmark::State& state) {
  run(
      state, fresh_tree,
      [](Tree& t) {
        std::vector<Record> records;
        records.reserve(static_cast<std::size_t>(nodes));
        flatten(t, records);
        const int words = static_cast<int>(records.size() * 3);
        MPI_Send(records.data(), words, MPI_INT64_T, 1, 7, MPI_COMM_WORLD);
        t.reset();  // the tree left this rank
        return static_cast<std::int64_t>(records.size() * sizeof(Record));
      },
      [] {
        MPI_Status st;
        MPI_Probe(0, 7, MPI_COMM_WORLD, &st);
        int words = 0;
        MPI_Get_count(&st, MPI_INT64_T, &words);
        std::vector<Record> records(static_cast<std::size_t>(words / 3));
        MPI_Recv(records.data(), words, MPI_INT64_T, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        std::size_t at = 0;
        auto next = [&] { return records[at++]; };
        return rebuild(sm::process_hold(), next);
      });
}

void per_node_messages(benchmark::State& state) {
  run(
      state, fresh_tree,
      [](Tree& t) {
        std::vector<Record> records;
        records.reserve(static_cast<std::size_t>(nodes));
        flatten(t, records);  // (the walk; each node is then its own message)
        for (const Record& r : records) MPI_Send(&r, 3, MPI_INT64_T, 1, 8, MPI_COMM_WORLD);
        t.reset();
        return static_cast<std::int64_t>(records.size() * sizeof(Record));
      },
      [] {
        auto next = [] {
          Record r;
          MPI_Recv(&r, 3, MPI_INT64_T, 0, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
          return r;
        };
        return rebuild(sm::process_hold(), next);
      });
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks < 2) {
    if (g_rank == 0) std::printf("swim_bench_ship needs 2 ranks (mpiexec -n 2)\n");
    MPI_Finalize();
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  // The image of the benchmark's tree: 40 bytes a node (tag, key, value, two
  // children), plus the Parcel's own 448.
  const std::size_t sized = static_cast<std::size_t>(nodes) * 40 + 448;
  for (auto* b : {benchmark::RegisterBenchmark("ship/stow_one_message", ship_stow, 0),
                  benchmark::RegisterBenchmark("ship/stow_one_message_sized", ship_stow, sized),
                  benchmark::RegisterBenchmark("ship/packed_one_message", ship_packed),
                  benchmark::RegisterBenchmark("flat/one_message", flat_one_message),
                  benchmark::RegisterBenchmark("per_node/messages", per_node_messages)}) {
    b->Iterations(10)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  swim_bench::run_reporting_on_rank0(g_rank);
  MPI_Finalize();
  return 0;
}
