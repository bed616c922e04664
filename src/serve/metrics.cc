#include "internal/metrics.h"

#include <cstdio>

namespace blindml::serve::internal {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const char* name, uint64_t v) { out += std::string(name) + " " + std::to_string(v) + "\n"; }

}  // namespace

void Metrics::record_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
  if (seconds < 0) return;
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::record_compute(uint64_t rows, uint64_t pbs) {
  std::lock_guard<std::mutex> lock(mu_);
  ++computations_;
  rows_ += rows;
  pbs_ += pbs;
}

void Metrics::record_rejected() {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejected_;
}

std::string Metrics::render(const Gauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "blindml_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
  for (const auto& [key, n] : requests_)
    out += "blindml_http_requests_total{route=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  header(out, "blindml_http_request_duration_seconds", "histogram",
         "Time from the request's headers to its answer (body read included), by route.");
  for (const auto& [route, h] : latency_) {
    const std::string label = "route=\"" + route + "\"";
    for (size_t i = 0; i < kBuckets.size(); ++i)
      out += "blindml_http_request_duration_seconds_bucket{" + label + ",le=\"" + number(kBuckets[i]) + "\"} " +
             std::to_string(h.counts[i]) + "\n";
    out += "blindml_http_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += "blindml_http_request_duration_seconds_sum{" + label + "} " + number(h.sum) + "\n";
    out += "blindml_http_request_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
  }
  header(out, "blindml_computations_total", "counter", "Successful /compute requests.");
  sample(out, "blindml_computations_total", computations_);
  header(out, "blindml_rows_total", "counter", "Encrypted rows evaluated.");
  sample(out, "blindml_rows_total", rows_);
  header(out, "blindml_pbs_total", "counter", "Programmable bootstraps (table lookups) evaluated.");
  sample(out, "blindml_pbs_total", pbs_);
  header(out, "blindml_queue_rejected_total", "counter", "Requests answered 503 because the compute queue was full.");
  sample(out, "blindml_queue_rejected_total", rejected_);
  header(out, "blindml_queue_waiting", "gauge", "Requests waiting for a compute slot.");
  sample(out, "blindml_queue_waiting", g.queue_waiting);
  header(out, "blindml_computing", "gauge", "Compute slots in use.");
  sample(out, "blindml_computing", g.computing);
  header(out, "blindml_key_store_up", "gauge", "1 when the key store answered the last scrape.");
  sample(out, "blindml_key_store_up", g.store_ok ? 1 : 0);
  header(out, "blindml_key_store_keys", "gauge", "Clients with evaluation keys in the key store.");
  sample(out, "blindml_key_store_keys", g.store.keys);
  header(out, "blindml_key_store_bytes", "gauge", "Bytes of evaluation keys in the key store (as uploaded).");
  sample(out, "blindml_key_store_bytes", g.store.bytes);
  header(out, "blindml_key_cache_entries", "gauge", "Clients whose expanded keys are cached in memory.");
  sample(out, "blindml_key_cache_entries", g.cache.entries);
  header(out, "blindml_key_cache_bytes", "gauge", "Bytes of the cached expanded keys.");
  sample(out, "blindml_key_cache_bytes", g.cache.bytes);
  header(out, "blindml_key_cache_budget_bytes", "gauge", "The cache's byte budget.");
  sample(out, "blindml_key_cache_budget_bytes", g.cache.budget);
  header(out, "blindml_key_cache_hits_total", "counter", "Key lookups answered from the cache.");
  sample(out, "blindml_key_cache_hits_total", g.cache.hits);
  header(out, "blindml_key_cache_misses_total", "counter", "Key lookups that went to the key store.");
  sample(out, "blindml_key_cache_misses_total", g.cache.misses);
  header(out, "blindml_key_cache_evictions_total", "counter", "Cached keys evicted under the byte budget.");
  sample(out, "blindml_key_cache_evictions_total", g.cache.evictions);
  header(out, "blindml_request_body_bytes", "gauge", "Bytes of request bodies held in memory, all connections.");
  sample(out, "blindml_request_body_bytes", g.body_bytes);
  header(out, "blindml_request_body_budget_bytes", "gauge", "Most request-body bytes held at once before 503.");
  sample(out, "blindml_request_body_budget_bytes", g.body_budget);
  header(out, "blindml_http_connections", "gauge", "Open client connections.");
  sample(out, "blindml_http_connections", g.connections);
  header(out, "blindml_http_connection_limit", "gauge", "Connections served at once (--max-connections).");
  sample(out, "blindml_http_connection_limit", g.connection_limit);
  header(out, "blindml_http_connections_refused_total", "counter",
         "Connections closed at once because the server held its limit and its overflow room.");
  sample(out, "blindml_http_connections_refused_total", g.refused_connections);
  return out;
}

}  // namespace blindml::serve::internal
