// blindml._blindml: the Python bindings over the deployment API (include/blindml/deploy/deploy.h)
// and the model part's public functions (ONNX loading and its float reference, the clear and
// simulated predictions). The Python package (python/blindml/) wraps these in the
// Concrete-ML-shaped classes; this layer only converts:
//   - rows in: a 2-D C-contiguous float64 numpy array, [rows, features];
//   - bytes in and out for artifacts, keys and ciphertexts (bytes objects are immutable, so the
//     C++ side may read them with the GIL released);
//   - predictions out as numpy arrays (values [rows, outputs]; classifiers also proba [rows, C]
//     and labels [rows]);
//   - a non-ok Status becomes the exception class of its code (one per StatusCode, all deriving
//     from blindml.BlindmlError; the class attribute `code` is the code's snake_case name), with
//     the C++ message as its text.
// Key generation, encryption, decryption, evaluation-key loading, run and compile release the GIL.
//
// Thread safety: a Dev is immutable after compile. A Client's key is guarded by a reader-writer
// lock (key generation and loading exclusive; encrypt, decrypt, evaluation_keys shared), so Python
// threads may share one Client; Server is immutable and run() may be called from many threads (each call gets the
// object's pool when it is free, or a pool of its own).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <vector>

#include "blindml/base/status.h"
#include "blindml/base/thread_pool.h"
#include "blindml/circuit/analysis.h"
#include "blindml/crypto/keys.h"
#include "blindml/crypto/params.h"
#include "blindml/deploy/deploy.h"
#include "blindml/model/model.h"
#include "blindml/model/onnx.h"

namespace py = pybind11;

namespace blindml::python {
namespace {

// ------------------------------------------------------------------------------------------
// Exceptions: one class per status code.

struct ErrorClasses {
  PyObject* base = nullptr;
  PyObject* by_code[static_cast<int>(StatusCode::kInternal) + 1] = {};
};
ErrorClasses g_errors;

PyObject* make_error_class(py::module_& m, const char* name, PyObject* bases, const char* code, const char* doc) {
  std::string qualified = std::string("blindml.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (!cls) throw py::error_already_set();
  if (PyObject_SetAttrString(cls, "code", py::str(code).ptr()) != 0) throw py::error_already_set();
  m.add_object(name, py::handle(cls));
  return cls;
}

void register_errors(py::module_& m) {
  g_errors.base = make_error_class(m, "BlindmlError", PyExc_Exception, "unknown",
                                   "Base class of every error blindml's C++ side reports.");
  struct Spec {
    StatusCode code;
    const char* name;
    PyObject* builtin;  // a second base, so that `except ValueError` also catches it
    const char* doc;
  };
  const Spec specs[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "An argument or input the caller can fix (wrong feature count, NaN, data of another model)."},
      {StatusCode::kCorrupted, "CorruptedError", PyExc_ValueError, "Bytes that fail their checks (truncated, bad checksum)."},
      {StatusCode::kVersionMismatch, "VersionMismatchError", PyExc_ValueError,
       "An artifact or file of another format version."},
      {StatusCode::kNonConformant, "NonConformantError", PyExc_ValueError,
       "Well-formed bytes whose content breaks the format's rules."},
      {StatusCode::kParameterMismatch, "ParameterMismatchError", PyExc_ValueError,
       "Data made for another parameter set (another model's keys)."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_LookupError, "Something named does not exist."},
      {StatusCode::kResourceExhausted, "ResourceExhaustedError", PyExc_MemoryError, "A size limit was exceeded."},
      {StatusCode::kIoError, "BlindmlIOError", PyExc_OSError, "A file could not be read or written."},
      {StatusCode::kUnimplemented, "UnimplementedError", PyExc_NotImplementedError,
       "A model or op blindml does not support (the message names it)."},
      {StatusCode::kInternal, "InternalError", PyExc_RuntimeError, "A bug in blindml; please report it."},
  };
  for (const Spec& s : specs) {
    py::tuple bases = py::make_tuple(py::handle(g_errors.base), py::handle(s.builtin));
    g_errors.by_code[static_cast<int>(s.code)] =
        make_error_class(m, s.name, bases.ptr(), status_code_name(s.code), s.doc);
  }
}

[[noreturn]] void raise_status(const Status& status) {
  PyObject* cls = g_errors.by_code[static_cast<int>(status.code())];
  if (!cls) cls = g_errors.base;
  PyErr_SetString(cls, status.message().c_str());
  throw py::error_already_set();
}

void check(const Status& status) {
  if (!status.ok()) raise_status(status);
}

template <typename T>
T take(Result<T>&& r) {
  if (!r.ok()) raise_status(r.status());
  return std::move(r).value();
}

// ------------------------------------------------------------------------------------------
// GIL release, with a count of the calls inside C++ at once (tests check that two threads do
// overlap: the peak only exceeds 1 when the GIL is really released).

std::atomic<int> g_in_flight{0};
std::atomic<int> g_peak{0};

class WithoutGil {
 public:
  WithoutGil() {
    int now = g_in_flight.fetch_add(1) + 1;
    int peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
  }
  ~WithoutGil() { g_in_flight.fetch_sub(1); }
  WithoutGil(const WithoutGil&) = delete;
  WithoutGil& operator=(const WithoutGil&) = delete;

 private:
  py::gil_scoped_release release_;  // destroyed first: the GIL is back before the count drops
};

// ------------------------------------------------------------------------------------------
// Conversions.

using RowArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

model::Rows to_rows(const RowArray& a, const char* what) {
  if (a.ndim() != 2)
    throw py::value_error(std::string(what) + " must be a 2-D array [rows, features], got " +
                          std::to_string(a.ndim()) + " dimensions");
  const auto rows = static_cast<size_t>(a.shape(0));
  const auto cols = static_cast<size_t>(a.shape(1));
  model::Rows out(rows, std::vector<double>(cols));
  const double* p = a.data();
  for (size_t r = 0; r < rows; ++r) std::memcpy(out[r].data(), p + r * cols, cols * sizeof(double));
  return out;
}

std::span<const uint8_t> as_span(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &size) != 0) throw py::error_already_set();
  return {reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(size)};
}

py::bytes to_bytes(const std::vector<uint8_t>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

template <size_t N>
py::bytes id_bytes(const std::array<uint8_t, N>& id) {
  return py::bytes(reinterpret_cast<const char*>(id.data()), id.size());
}

// values [rows, outputs]; classifiers: proba [rows, C], labels [rows].
py::dict predictions_to_dict(const model::ClientProcessing& proc, const std::vector<model::Prediction>& preds) {
  const auto rows = static_cast<py::ssize_t>(preds.size());
  const auto outs = static_cast<py::ssize_t>(proc.output_count());
  py::array_t<double> values({rows, outs});
  auto v = values.mutable_unchecked<2>();
  for (py::ssize_t r = 0; r < rows; ++r)
    for (py::ssize_t c = 0; c < outs; ++c)
      v(r, c) = c < static_cast<py::ssize_t>(preds[r].values.size()) ? preds[r].values[c] : NAN;
  py::dict d;
  d["values"] = values;
  if (proc.kind == model::ModelKind::kClassifier) {
    const auto classes = static_cast<py::ssize_t>(rows > 0 ? preds[0].proba.size() : proc.class_labels.size());
    py::array_t<double> proba({rows, classes});
    py::array_t<int64_t> labels(rows);
    auto pr = proba.mutable_unchecked<2>();
    auto lb = labels.mutable_unchecked<1>();
    for (py::ssize_t r = 0; r < rows; ++r) {
      for (py::ssize_t c = 0; c < classes; ++c)
        pr(r, c) = c < static_cast<py::ssize_t>(preds[r].proba.size()) ? preds[r].proba[c] : NAN;
      lb(r) = preds[r].label;
    }
    d["proba"] = proba;
    d["labels"] = labels;
  }
  return d;
}

py::dict params_to_dict(const crypto::ParameterSet& p) {
  py::dict d;
  d["name"] = p.name ? std::string(p.name) : std::string();
  d["fingerprint"] = crypto::fingerprint_hex(p);
  d["message_bits"] = p.message_bits;
  d["lwe_dimension"] = p.lwe_dimension.value;
  d["glwe_dimension"] = p.glwe_dimension.value;
  d["polynomial_size"] = p.polynomial_size.value;
  d["lwe_noise_log2_std"] = p.lwe_noise_log2_std;
  d["glwe_noise_log2_std"] = p.glwe_noise_log2_std;
  d["pbs_base_log"] = p.pbs_base_log.value;
  d["pbs_level_count"] = p.pbs_level_count.value;
  d["ks_base_log"] = p.ks_base_log.value;
  d["ks_level_count"] = p.ks_level_count.value;
  return d;
}

py::dict processing_to_dict(const model::ClientProcessing& proc) {
  py::dict d;
  d["kind"] = proc.kind == model::ModelKind::kClassifier ? "classifier" : "regressor";
  d["family"] = proc.family;
  d["n_features"] = proc.feature_count();  // the raw row: the graph inputs' columns in order
  py::list inputs;  // several graph inputs (a ColumnTransformer): their columns in the row
  for (const auto& in : proc.inputs) {
    py::dict i;
    i["name"] = in.name;
    i["first"] = in.first;
    i["columns"] = in.width;
    i["dtype"] = in.text ? "string" : in.integer ? "int64" : "float";
    inputs.append(i);
  }
  d["inputs"] = inputs;
  d["vocabulary"] = proc.vocabulary;  // string inputs' cells: their index here (-1: unknown)
  d["n_outputs"] = proc.output_count();
  d["post_transform"] = std::string(model::post_transform_name(proc.post));
  d["class_labels"] = proc.class_labels;
  d["class_names"] = proc.class_names;  // string labels: the classes' names (class_labels are their indices)
  return d;
}

// The compile report's figures: bits, PBS count, parameters, key sizes.
py::dict compiled_to_dict(const compiler::CompiledCircuit& c) {
  py::dict d;
  d["carrier_bits"] = c.carrier_bits;
  d["needs_bootstrapping"] = c.needs_bootstrapping;
  d["log2_p_error_per_read"] = c.log2_p_error_per_read;
  d["global_p_error"] = c.global_p_error;
  d["estimated_pbs_ms"] = c.estimated_pbs_ms;
  auto analysis = circuit::analyze(c.circuit);
  if (analysis.ok()) {
    d["pbs_count"] = analysis->pbs_count;
    d["pbs_depth"] = analysis->pbs_depth;
    d["max_lookup_bits"] = analysis->max_lookup_bits;
    d["leveled_ops"] = analysis->leveled_ops;
  }
  d["parameters"] = params_to_dict(c.params);
  const uint64_t secret_words = c.params.lwe_dimension.value + c.params.big_lwe_dimension().value;
  d["secret_key_bytes"] = secret_words * 8;
  d["evaluation_keys_bytes"] = c.needs_bootstrapping ? crypto::seeded_evaluation_keys_bytes(c.params) : 0;
  d["expanded_evaluation_keys_bytes"] = c.needs_bootstrapping ? crypto::expanded_evaluation_keys_bytes(c.params) : 0;
  return d;
}

py::dict specs_to_dict(const deploy::ClientSpecs& s) {
  py::dict d;
  d["parameters"] = params_to_dict(s.params);
  d["carrier_bits"] = s.carrier_bits;
  d["input_carrier_bits"] = s.input_carrier_bits;
  d["output_carrier_bits"] = s.output_carrier_bits;
  d["needs_evaluation_keys"] = s.needs_evaluation_keys;
  d["n_features"] = s.input_features;
  d["n_outputs"] = s.outputs;
  d["model_id"] = id_bytes(s.model_id);
  return d;
}

py::array_t<double> tensor_to_array(const model::FloatTensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  size_t n = 1;
  for (int64_t s : t.shape) n *= static_cast<size_t>(s < 0 ? 0 : s);
  if (n != t.data.size()) {  // a shape the evaluator left implicit: flat
    shape = {static_cast<py::ssize_t>(t.data.size())};
  }
  py::array_t<double> a(shape);
  if (!t.data.empty()) std::memcpy(a.mutable_data(), t.data.data(), t.data.size() * sizeof(double));
  return a;
}

// As the CLI's --threads: 0 = one per core, at most 4096.
size_t checked_threads(size_t threads) {
  if (threads > 4096)
    raise_status(invalid_argument("threads=" + std::to_string(threads) + ": at most 4096 (0 = one per core)"));
  return threads;
}

// A pool per object, lent to one call at a time; a concurrent call makes its own.
class PoolLender {
 public:
  explicit PoolLender(size_t threads) : threads_(checked_threads(threads)) {}
  template <typename F>
  auto with_pool(F&& f) {
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) {
      if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
      return f(*pool_);
    }
    ThreadPool own(threads_);
    return f(own);
  }

 private:
  size_t threads_;
  std::mutex mu_;
  std::unique_ptr<ThreadPool> pool_;
};

// ------------------------------------------------------------------------------------------
// The wrapped objects.

model::CompileOptions make_options(uint32_t n_bits, uint32_t rounding_bits, bool exact_rounding, uint32_t leaf_bits,
                                   const std::optional<std::string>& kind, std::optional<double> p_error,
                                   std::optional<double> global_p_error,
                                   const std::optional<std::string>& tree_comparisons = std::nullopt) {
  model::CompileOptions o;
  o.n_bits = n_bits;
  o.rounding_bits = rounding_bits;
  o.exact_rounding = exact_rounding;
  o.leaf_bits = leaf_bits;
  if (kind) {
    if (*kind == "classifier") {
      o.kind = model::ModelKind::kClassifier;
    } else if (*kind == "regressor") {
      o.kind = model::ModelKind::kRegressor;
    } else {
      raise_status(invalid_argument("kind \"" + *kind + "\": expected \"classifier\" or \"regressor\""));
    }
  }
  auto check_p = [](double p, const char* name) {
    if (!(p > 0 && p < 1)) raise_status(invalid_argument(std::string(name) + " must lie in (0, 1), got " + std::to_string(p)));
  };
  if (p_error) {
    check_p(*p_error, "p_error");
    o.optimizer.log2_p_error = std::log2(*p_error);
  }
  if (global_p_error) {
    check_p(*global_p_error, "global_p_error");
    o.optimizer.global_p_error = *global_p_error;
  }
  if (tree_comparisons) {
    if (*tree_comparisons == "client") {
      o.tree_comparisons = model::CompileOptions::TreeComparisons::kClient;
    } else if (*tree_comparisons == "server") {
      o.tree_comparisons = model::CompileOptions::TreeComparisons::kServer;
    } else {
      raise_status(invalid_argument("tree_comparisons \"" + *tree_comparisons + "\": expected \"client\" or \"server\""));
    }
  }
  return o;
}

struct PyDev {
  explicit PyDev(deploy::Dev d) : dev(std::move(d)) {}
  deploy::Dev dev;
};

// generate_keys / load_secret_key replace the key: exclusive; encrypt / decrypt / evaluation_keys
// read it: shared, so two threads encrypt at once.
struct PyClient {
  explicit PyClient(deploy::Client c) : client(std::move(c)) {}
  deploy::Client client;
  std::shared_mutex mu;
};

struct PyServer {
  PyServer(deploy::Server s, size_t threads) : server(std::move(s)), pools(threads) {}
  deploy::Server server;
  PoolLender pools;
};

struct PyKeys {
  deploy::Server::Keys keys;
  deploy::ModelId model_id{};
};

}  // namespace
}  // namespace blindml::python

PYBIND11_MODULE(_blindml, m) {
  using namespace blindml;
  using namespace blindml::python;
  m.doc() = "blindml's C++ deployment API (the blindml package wraps it; see docs/python.md)";
  register_errors(m);
  m.attr("__version__") = deploy::blindml_version();
  m.attr("ARTIFACT_FORMAT_VERSION") = deploy::kArtifactFormatVersion;
  m.attr("EXCHANGE_FORMAT_VERSION") = deploy::kExchangeFormatVersion;

  m.def("_concurrency_peak", [] { return g_peak.load(); },
        "The most calls that were inside C++ without the GIL at once since the last reset.");
  m.def("_reset_concurrency_peak", [] { g_peak.store(g_in_flight.load()); });

  // For python/bench/overhead.py: the C++ API's own time for one call (median of `repeat`
  // calls timed in C++, the inputs already converted), to set against the same call from Python.
  m.def(
      "_cpp_call_seconds",
      [](PyClient& c, PyServer& s, const PyKeys& keys, const std::string& call, const RowArray& x,
         const py::bytes& input, const py::bytes& output, int repeat) {
        model::Rows rows = to_rows(x, "X");
        std::span<const uint8_t> in = as_span(input), out = as_span(output);
        std::vector<double> times;
        Status failed;
        {
          WithoutGil nogil;
          std::shared_lock<std::shared_mutex> lock(c.mu);
          for (int i = 0; i < repeat && failed.ok(); ++i) {
            auto t0 = std::chrono::steady_clock::now();
            if (call == "encrypt") {
              auto r = c.client.encrypt(rows);
              if (!r.ok()) failed = r.status();
            } else if (call == "run") {
              auto r = s.pools.with_pool([&](ThreadPool& pool) { return s.server.run(in, keys.keys, pool); });
              if (!r.ok()) failed = r.status();
            } else if (call == "decrypt") {
              auto r = c.client.decrypt(out);
              if (!r.ok()) failed = r.status();
            } else {
              failed = invalid_argument("call: encrypt, run or decrypt");
            }
            times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          }
        }
        check(failed);
        std::sort(times.begin(), times.end());
        return times.empty() ? 0.0 : times[times.size() / 2];
      },
      py::arg("client"), py::arg("server"), py::arg("keys"), py::arg("call"), py::arg("X"), py::arg("input"),
      py::arg("output"), py::arg("repeat"));

  // The string columns of a graph's raw row and the vocabulary their cells map to (docs/python.md).
  m.def("string_columns", [](const py::bytes& onnx) {
    auto graph = take(model::load_onnx(as_span(onnx)));
    py::list columns;
    for (const auto& v : graph.inputs) {
      const int64_t w = v.has_shape && v.shape.size() == 2 && v.shape[1] > 0 ? v.shape[1] : 1;
      for (int64_t c = 0; c < w; ++c) columns.append(v.elem_type == 8);
    }
    py::dict d;
    d["columns"] = columns;
    d["vocabulary"] = model::string_vocabulary(graph);
    return d;
  });

  m.def(
      "evaluate_onnx",
      [](const py::bytes& onnx, const RowArray& x) {
        auto graph = take(model::load_onnx(as_span(onnx)));
        if (x.ndim() != 2) throw py::value_error("X must be a 2-D array [rows, features]");
        // Several graph inputs: X holds their declared columns concatenated in graph-input order.
        std::map<std::string, model::FloatTensor> feed;
        const int64_t rows = static_cast<int64_t>(x.shape(0)), cols = static_cast<int64_t>(x.shape(1));
        if (graph.inputs.size() == 1) {
          model::FloatTensor in;
          in.shape = {rows, cols};
          in.data.assign(x.data(), x.data() + x.size());
          feed.emplace(graph.inputs[0].name, std::move(in));
        } else {
          const int64_t width = model::graph_row_width(graph);
          if (width != cols)
            raise_status(invalid_argument("the graph's " + std::to_string(graph.inputs.size()) + " inputs have " +
                                          std::to_string(width) + " columns in all (-1: undeclared), X has " +
                                          std::to_string(cols)));
          int64_t first = 0;
          for (const auto& v : graph.inputs) {
            const int64_t w = v.shape.size() == 2 ? v.shape[1] : 1;
            model::FloatTensor in;
            in.shape = v.shape.size() == 2 ? std::vector<int64_t>{rows, w} : std::vector<int64_t>{rows};
            for (int64_t r = 0; r < rows; ++r)
              in.data.insert(in.data.end(), x.data() + r * cols + first, x.data() + r * cols + first + w);
            feed.emplace(v.name, std::move(in));
            first += w;
          }
        }
        Result<std::map<std::string, model::FloatTensor>> r = Status(internal_error("not run"));
        {
          WithoutGil nogil;
          r = model::evaluate_float(graph, feed);
        }
        auto values = take(std::move(r));
        py::dict out;
        for (const auto& o : graph.outputs) {
          auto it = values.find(o.name);
          if (it != values.end()) out[py::str(o.name)] = tensor_to_array(it->second);
        }
        return out;
      },
      py::arg("onnx"), py::arg("X"),
      "The float reference interpreter (model::evaluate_float) on one batch: graph output name -> array.");

  py::class_<PyDev>(m, "Dev", "Compiles a model: deploy::Dev")
      .def_static(
          "compile",
          [](const py::bytes& onnx, const RowArray& calibration, uint32_t n_bits, uint32_t rounding_bits,
             bool exact_rounding, uint32_t leaf_bits, std::optional<std::string> kind, std::optional<double> p_error,
             std::optional<double> global_p_error, std::optional<std::string> tree_comparisons) {
            auto options = make_options(n_bits, rounding_bits, exact_rounding, leaf_bits, kind, p_error, global_p_error,
                                        tree_comparisons);
            model::Rows rows = to_rows(calibration, "the calibration set");
            std::span<const uint8_t> bytes = as_span(onnx);
            Result<deploy::Dev> r = Status(internal_error("not compiled"));
            {
              WithoutGil nogil;
              auto graph = model::load_onnx(bytes);
              r = graph.ok() ? deploy::Dev::compile(*graph, rows, options) : Result<deploy::Dev>(graph.status());
            }
            return std::make_unique<PyDev>(take(std::move(r)));
          },
          py::arg("onnx"), py::arg("calibration"), py::arg("n_bits") = 0, py::arg("rounding_bits") = 0,
          py::arg("exact_rounding") = model::CompileOptions{}.exact_rounding, py::arg("leaf_bits") = 0, py::arg("kind") = py::none(),
          py::arg("p_error") = py::none(), py::arg("global_p_error") = py::none(),
          py::arg("tree_comparisons") = py::none())
      .def_property_readonly("report", [](PyDev& d) { return d.dev.report(); })
      .def_property_readonly("model_id", [](PyDev& d) { return id_bytes(d.dev.model_id()); })
      .def_property_readonly("processing", [](PyDev& d) { return processing_to_dict(d.dev.model().processing); })
      .def_property_readonly("compiled", [](PyDev& d) { return compiled_to_dict(d.dev.model().compiled); })
      .def("client_zip", [](PyDev& d) { return to_bytes(take(d.dev.client_zip())); })
      .def("server_zip", [](PyDev& d) { return to_bytes(take(d.dev.server_zip())); })
      .def("save", [](PyDev& d, const std::string& dir) { check(d.dev.save(dir)); }, py::arg("dir"))
      .def(
          "predict_clear",
          [](PyDev& d, const RowArray& x) {
            model::Rows rows = to_rows(x, "X");
            Result<std::vector<model::Prediction>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              r = model::predict_clear(d.dev.model(), rows);
            }
            return predictions_to_dict(d.dev.model().processing, take(std::move(r)));
          },
          py::arg("X"), "The quantized model in the clear: the exact reference for FHE.")
      .def(
          "predict_simulated",
          [](PyDev& d, const RowArray& x, uint64_t seed) {
            model::Rows rows = to_rows(x, "X");
            Result<std::vector<model::Prediction>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              std::mt19937_64 rng(seed);
              r = model::predict_simulated(d.dev.model(), rows, rng);
            }
            return predictions_to_dict(d.dev.model().processing, take(std::move(r)));
          },
          py::arg("X"), py::arg("seed"), "The clear model with lookup errors drawn at the compiled probability.");

  py::class_<PyClient>(m, "Client", "The client side: deploy::Client")
      .def_static(
          "load", [](const std::string& path) { return std::make_unique<PyClient>(take(deploy::Client::load(path))); },
          py::arg("path"))
      .def_static(
          "load_bytes",
          [](const py::bytes& zip) { return std::make_unique<PyClient>(take(deploy::Client::load_bytes(as_span(zip)))); },
          py::arg("client_zip"))
      .def_property_readonly("specs", [](PyClient& c) { return specs_to_dict(c.client.specs()); })
      .def_property_readonly("processing", [](PyClient& c) { return processing_to_dict(c.client.processing()); })
      .def_property_readonly("has_keys", [](PyClient& c) { return c.client.has_keys(); })
      .def(
          "generate_keys",
          [](PyClient& c, size_t threads) {
            checked_threads(threads);
            Status s;
            {
              WithoutGil nogil;
              std::unique_lock<std::shared_mutex> lock(c.mu);
              ThreadPool pool(threads);
              s = c.client.generate_keys(&pool);
            }
            check(s);
          },
          py::arg("threads") = 0, "A new secret key and evaluation keys (threads 0: one per core).")
      .def("evaluation_keys",
           [](PyClient& c) {
             std::shared_lock<std::shared_mutex> lock(c.mu);
             return to_bytes(take(c.client.evaluation_keys()));
           })
      .def(
          "save_secret_key",
          [](PyClient& c, const std::string& path) {
            std::shared_lock<std::shared_mutex> lock(c.mu);
            check(c.client.save_secret_key(path));
          },
          py::arg("path"))
      .def(
          "load_secret_key",
          [](PyClient& c, const std::string& path) {
            std::unique_lock<std::shared_mutex> lock(c.mu);
            check(c.client.load_secret_key(path));
          },
          py::arg("path"))
      .def(
          "encrypt",
          [](PyClient& c, const RowArray& x) {
            model::Rows rows = to_rows(x, "X");
            Result<std::vector<uint8_t>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              std::shared_lock<std::shared_mutex> lock(c.mu);
              r = c.client.encrypt(rows);
            }
            return to_bytes(take(std::move(r)));
          },
          py::arg("X"))
      .def(
          "decrypt",
          [](PyClient& c, const py::bytes& output) {
            std::span<const uint8_t> bytes = as_span(output);
            Result<std::vector<model::Prediction>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              std::shared_lock<std::shared_mutex> lock(c.mu);
              r = c.client.decrypt(bytes);
            }
            return predictions_to_dict(c.client.processing(), take(std::move(r)));
          },
          py::arg("output"));

  py::class_<PyKeys>(m, "EvaluationKeys", "A client's evaluation keys, validated and expanded by a Server")
      .def_property_readonly("key_id", [](PyKeys& k) { return id_bytes(k.keys.key_id); });

  py::class_<PyServer>(m, "Server", "The server side: deploy::Server")
      .def_static(
          "load",
          [](const std::string& path, size_t threads) {
            return std::make_unique<PyServer>(take(deploy::Server::load(path)), threads);
          },
          py::arg("path"), py::arg("threads") = 0)
      .def_static(
          "load_bytes",
          [](const py::bytes& zip, size_t threads) {
            return std::make_unique<PyServer>(take(deploy::Server::load_bytes(as_span(zip))), threads);
          },
          py::arg("server_zip"), py::arg("threads") = 0)
      .def_property_readonly("model_id", [](PyServer& s) { return id_bytes(s.server.model_id()); })
      .def_property_readonly("info_json", [](PyServer& s) { return s.server.info_json(); })
      .def_property_readonly("compiled", [](PyServer& s) { return compiled_to_dict(s.server.compiled()); })
      .def(
          "load_evaluation_keys",
          [](PyServer& s, const py::bytes& keys) {
            std::span<const uint8_t> bytes = as_span(keys);
            Result<deploy::Server::Keys> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              r = s.pools.with_pool([&](ThreadPool& pool) { return s.server.load_evaluation_keys(bytes, {}, &pool); });
            }
            return std::make_unique<PyKeys>(PyKeys{take(std::move(r)), s.server.model_id()});
          },
          py::arg("evaluation_keys"))
      .def(
          "run",
          [](PyServer& s, const py::bytes& input, const PyKeys& keys) {
            std::span<const uint8_t> bytes = as_span(input);
            if (keys.model_id != s.server.model_id())
              raise_status(invalid_argument("these evaluation keys were loaded by a server of another model"));
            Result<std::vector<uint8_t>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              r = s.pools.with_pool([&](ThreadPool& pool) { return s.server.run(bytes, keys.keys, pool); });
            }
            return to_bytes(take(std::move(r)));
          },
          py::arg("input"), py::arg("keys"))
      .def(
          "run",
          [](PyServer& s, const py::bytes& input, const py::bytes& evaluation_keys) {
            std::span<const uint8_t> bytes = as_span(input);
            std::span<const uint8_t> keys = as_span(evaluation_keys);
            Result<std::vector<uint8_t>> r = Status(internal_error("not run"));
            {
              WithoutGil nogil;
              r = s.pools.with_pool([&](ThreadPool& pool) { return s.server.run(bytes, keys, pool); });
            }
            return to_bytes(take(std::move(r)));
          },
          py::arg("input"), py::arg("evaluation_keys"));
}
