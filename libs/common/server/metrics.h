// Prometheus metrics (text exposition format 0.0.4): counters, gauges and histograms with
// labels. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace semper {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  void AddCounter(const std::string& name, const std::string& help, const Labels& labels, double delta = 1);
  void SetGauge(const std::string& name, const std::string& help, const Labels& labels, double value);
  // Stops exporting one series of a gauge (a certificate no longer in use).
  void RemoveGauge(const std::string& name, const Labels& labels);
  // Default buckets suit request latencies in seconds (0.5 ms .. 10 s).
  void Observe(const std::string& name, const std::string& help, const Labels& labels, double value);
  // A histogram with its own upper bounds (ascending), fixed by the first observation of `name`.
  void Observe(const std::string& name, const std::string& help, const Labels& labels, double value,
               const std::vector<double>& bounds);
  // Upper bounds for counts of things (1 .. 10,000): rows in a group commit, items in a batch.
  static const std::vector<double>& CountBuckets();

  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Series {
    double value = 0;               // counter, gauge; histogram sum
    uint64_t count = 0;             // histogram
    std::vector<uint64_t> buckets;  // histogram, cumulative at render
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> bounds;            // histogram
    std::map<std::string, Series> series;  // key: rendered label set
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semper
