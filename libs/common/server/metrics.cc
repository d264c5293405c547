// Prometheus text rendering.
#include "common/server/metrics.h"

#include <cmath>

#include "common/base/strings.h"

namespace semper {
namespace {

const std::vector<double>& LatencyBuckets() {
  static const auto* const kBuckets =
      new std::vector<double>{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string RenderLabels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    StrAppend(&out, out.empty() ? "" : ",", k, "=\"", EscapeLabel(v), "\"");
  }
  return out;
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return StrCat(static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string Braced(const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all = all.empty() ? extra : StrCat(all, ",", extra);
  return all.empty() ? "" : StrCat("{", all, "}");
}

}  // namespace

Metrics::Family& Metrics::FamilyFor(const std::string& name, const std::string& help, Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  }
  return it->second;
}

void Metrics::AddCounter(const std::string& name, const std::string& help, const Labels& labels, double delta) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, help, Kind::kCounter).series[RenderLabels(labels)].value += delta;
}

void Metrics::SetGauge(const std::string& name, const std::string& help, const Labels& labels, double value) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, help, Kind::kGauge).series[RenderLabels(labels)].value = value;
}

void Metrics::RemoveGauge(const std::string& name, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto family = families_.find(name);
  if (family != families_.end()) family->second.series.erase(RenderLabels(labels));
}

const std::vector<double>& Metrics::CountBuckets() {
  static const auto* const kBuckets =
      new std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
  return *kBuckets;
}

void Metrics::Observe(const std::string& name, const std::string& help, const Labels& labels, double value) {
  Observe(name, help, labels, value, LatencyBuckets());
}

void Metrics::Observe(const std::string& name, const std::string& help, const Labels& labels, double value,
                      const std::vector<double>& bounds) {
  absl::MutexLock lock(&mu_);
  Family& f = FamilyFor(name, help, Kind::kHistogram);
  if (f.bounds.empty()) f.bounds = bounds;
  Series& s = f.series[RenderLabels(labels)];
  if (s.buckets.empty()) s.buckets.assign(f.bounds.size(), 0);
  for (size_t i = 0; i < f.bounds.size(); ++i) {
    if (value <= f.bounds[i]) ++s.buckets[i];
  }
  s.value += value;
  ++s.count;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.kind == Kind::kCounter ? "counter" : family.kind == Kind::kGauge ? "gauge" : "histogram";
    StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ", name, " ", type, "\n");
    for (const auto& [labels, s] : family.series) {
      if (family.kind != Kind::kHistogram) {
        StrAppend(&out, name, Braced(labels), " ", Number(s.value), "\n");
        continue;
      }
      for (size_t i = 0; i < family.bounds.size(); ++i) {
        StrAppend(&out, name, "_bucket", Braced(labels, StrCat("le=\"", Number(family.bounds[i]), "\"")), " ",
                  s.buckets[i], "\n");
      }
      StrAppend(&out, name, "_bucket", Braced(labels, "le=\"+Inf\""), " ", s.count, "\n");
      StrAppend(&out, name, "_sum", Braced(labels), " ", Number(s.value), "\n");
      StrAppend(&out, name, "_count", Braced(labels), " ", s.count, "\n");
    }
  }
  return out;
}

}  // namespace semper
