"""ONNX building blocks shared by the exporters (the conventions of skl2onnx / onnxmltools).

Every graph takes one float32 input "X" of shape [N, F]; opsets: default domain 13, ai.onnx.ml 1.
"""

import numpy as np

OPSET = 13
ML_OPSET = 1


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401 - a submodule, not imported by `import onnx`
    except ImportError as e:  # pragma: no cover - Debian's python3-onnx is a dependency
        raise ImportError("exporting a fitted model needs the onnx package (Debian: python3-onnx)") from e
    return onnx


def input_x(n_features):
    onnx = _onnx()
    return onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, int(n_features)])


def f32list(values):
    return [float(np.float32(v)) for v in np.asarray(values, dtype=np.float64).ravel()]


def make_model(name, nodes, inputs, outputs, doc, initializers=()):
    onnx = _onnx()
    helper = onnx.helper
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="blindml.export",
        producer_version="1",
        doc_string=doc,
    )
    onnx.checker.check_model(model)
    return model


def zipmap_output_type():
    onnx = _onnx()
    t = onnx.TypeProto()
    m = t.sequence_type.elem_type.map_type
    m.key_type = onnx.TensorProto.INT64
    m.value_type.CopyFrom(onnx.helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, None))
    return onnx.helper.make_value_info("output_probability", t)


def classifier_tail(labels, proba_name="probabilities"):
    """Cast(label) + ZipMap(probabilities), as skl2onnx's SklearnZipMap."""
    onnx = _onnx()
    helper = onnx.helper
    nodes = [
        helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=onnx.TensorProto.INT64),
        helper.make_node("ZipMap", [proba_name], ["output_probability"], name="ZipMap", domain="ai.onnx.ml",
                         classlabels_int64s=[int(v) for v in labels]),
    ]
    outputs = [helper.make_tensor_value_info("output_label", onnx.TensorProto.INT64, [None]), zipmap_output_type()]
    return nodes, outputs


def linear_regressor(coef, intercept, name, doc):
    """coef [targets, F], intercept [targets] -> LinearRegressor, output "variable" [N, targets]."""
    onnx = _onnx()
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).ravel()
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    node = onnx.helper.make_node("LinearRegressor", ["X"], ["variable"], name="LinearRegressor", domain="ai.onnx.ml",
                                 coefficients=f32list(coef), intercepts=f32list(intercept),
                                 targets=int(coef.shape[0]), post_transform="NONE")
    out = onnx.helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, [None, int(coef.shape[0])])
    return make_model(name, [node], [input_x(coef.shape[1])], [out], doc)


def linear_classifier(coef, intercept, labels, post, name, doc, normalize_l1=False):
    """coef [C or 1, F]: binary problems (one row) are written as skl2onnx does, [-w, w]."""
    onnx = _onnx()
    helper = onnx.helper
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).ravel()
    n_features = coef.shape[1]
    if len(labels) == 2 and coef.shape[0] == 1:
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
        multi_class = 0
    else:
        multi_class = 1 if post == "SOFTMAX" else 0
    lc_out = "probability_tensor" if normalize_l1 else "probabilities"
    nodes = [helper.make_node("LinearClassifier", ["X"], ["label", lc_out], name="LinearClassifier",
                              domain="ai.onnx.ml", coefficients=f32list(coef), intercepts=f32list(intercept),
                              classlabels_ints=[int(v) for v in labels], multi_class=multi_class,
                              post_transform=post)]
    if normalize_l1:
        nodes.append(helper.make_node("Normalizer", ["probability_tensor"], ["probabilities"], name="Normalizer",
                                      domain="ai.onnx.ml", norm="L1"))
    tail, outputs = classifier_tail(labels)
    return make_model(name, nodes + tail, [input_x(n_features)], outputs, doc)


def empty_tree_attrs(classifier, hitrates=True):
    keys = ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
            "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"]
    if hitrates:
        keys.append("nodes_hitrates")
    keys += (["class_treeids", "class_nodeids", "class_ids", "class_weights"] if classifier else
             ["target_treeids", "target_nodeids", "target_ids", "target_weights"])
    return {k: [] for k in keys}


def _f32_attrs(attrs):
    for k in ("nodes_values", "class_weights", "target_weights", "nodes_hitrates", "base_values"):
        if k in attrs:
            attrs[k] = f32list(attrs[k]) if len(attrs[k]) else []
    return attrs


def tree_classifier(attrs, labels, n_features, name, doc):
    onnx = _onnx()
    attrs = _f32_attrs(dict(attrs))
    attrs["classlabels_int64s"] = [int(v) for v in labels]
    attrs.setdefault("post_transform", "NONE")
    node = onnx.helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"],
                                 name="TreeEnsembleClassifier", domain="ai.onnx.ml", **attrs)
    tail, outputs = classifier_tail(labels)
    return make_model(name, [node] + tail, [input_x(n_features)], outputs, doc)


def tree_regressor(attrs, n_targets, n_features, name, doc):
    onnx = _onnx()
    attrs = _f32_attrs(dict(attrs))
    attrs["n_targets"] = int(n_targets)
    attrs.setdefault("post_transform", "NONE")
    node = onnx.helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], name="TreeEnsembleRegressor",
                                 domain="ai.onnx.ml", **attrs)
    out = onnx.helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, [None, int(n_targets)])
    return make_model(name, [node], [input_x(n_features)], [out], doc)


def dense_network(layers, activation, final, name, doc):
    """layers: [(W [in, out], b [out])]; activation between layers: Relu, Tanh, Sigmoid or None;
    final: None, "Sigmoid" or "Softmax". Gemm nodes with float32 initializers."""
    onnx = _onnx()
    helper = onnx.helper
    nodes, inits = [], []
    cur = "X"
    for i, (w, b) in enumerate(layers):
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32).ravel()
        inits.append(onnx.numpy_helper.from_array(w, "W%d" % i))
        inits.append(onnx.numpy_helper.from_array(b, "B%d" % i))
        out = "output" if (i + 1 == len(layers) and not final) else "Z%d" % i
        nodes.append(helper.make_node("Gemm", [cur, "W%d" % i, "B%d" % i], [out], name="Gemm_%d" % i))
        cur = out
        if i + 1 < len(layers) and activation:
            act = "A%d" % i
            nodes.append(helper.make_node(activation, [cur], [act], name="%s_%d" % (activation, i)))
            cur = act
    if final == "Softmax":
        nodes.append(helper.make_node("Softmax", [cur], ["output"], name="Softmax", axis=1))
    elif final == "Sigmoid":
        nodes.append(helper.make_node("Sigmoid", [cur], ["output"], name="Sigmoid"))
    n_out = np.asarray(layers[-1][0]).shape[1]
    out = helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [None, int(n_out)])
    n_in = np.asarray(layers[0][0]).shape[0]
    return make_model(name, nodes, [input_x(n_in)], [out], doc, inits)


def _naive_bayes_tails(labels):
    """skl2onnx's naive-Bayes tails on the joint log-likelihood "jll" [N, C]: the label (ArgMax ->
    ArrayFeatureExtractor(classes) -> Cast -> Reshape -> Cast) and the probabilities
    exp(jll - logsumexp(jll)) (ReduceLogSumExp -> Reshape -> Sub -> Exp -> ZipMap)."""
    onnx = _onnx()
    helper, T = onnx.helper, onnx.TensorProto
    nodes = [
        helper.make_node("ArgMax", ["jll"], ["argmax_output"], name="ArgMax", axis=1),
        helper.make_node("ReduceLogSumExp", ["jll"], ["log_sum"], name="ReduceLogSumExp", axes=[1], keepdims=0),
        helper.make_node("Reshape", ["log_sum", "log_prob_shape"], ["reshaped_log_sum"], name="Reshape_lse"),
        helper.make_node("Sub", ["jll", "reshaped_log_sum"], ["log_prob"], name="Sub_lse"),
        helper.make_node("Exp", ["log_prob"], ["probabilities"], name="Exp"),
        helper.make_node("ArrayFeatureExtractor", ["classes", "argmax_output"], ["label_at"],
                         name="ArrayFeatureExtractor", domain="ai.onnx.ml"),
        helper.make_node("Cast", ["label_at"], ["label_float"], name="Cast_label", to=T.FLOAT),
        helper.make_node("Reshape", ["label_float", "label_shape"], ["label_flat"], name="Reshape_label"),
        helper.make_node("Cast", ["label_flat"], ["output_label"], name="Cast", to=T.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap", domain="ai.onnx.ml",
                         classlabels_int64s=[int(v) for v in labels]),
    ]
    inits = [onnx.numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "log_prob_shape"),
             onnx.numpy_helper.from_array(np.asarray(labels, dtype=np.int32), "classes"),
             onnx.numpy_helper.from_array(np.array([-1], dtype=np.int64), "label_shape")]
    outputs = [helper.make_tensor_value_info("output_label", T.INT64, [None]), zipmap_output_type()]
    return nodes, inits, outputs


def gaussian_nb(theta, var, log_prior, labels, name, doc):
    """theta, var [C, F], log_prior [C] -> skl2onnx's GaussianNB graph: jll = log_prior
    - ½·Σ log(2π·var) - ½·Σ (x - theta)² / var, then the naive-Bayes tails."""
    onnx = _onnx()
    helper = onnx.helper
    theta = np.asarray(theta, dtype=np.float64)
    var = np.asarray(var, dtype=np.float64)
    C, F = theta.shape
    f32 = lambda a, n: onnx.numpy_helper.from_array(np.asarray(a, dtype=np.float32), n)  # noqa: E731
    nodes = [
        helper.make_node("Reshape", ["X", "reshape_shape"], ["reshaped_input"], name="Reshape"),
        helper.make_node("Sub", ["reshaped_input", "theta"], ["subtracted_input"], name="Sub"),
        helper.make_node("Pow", ["subtracted_input", "exponent"], ["pow_result"], name="Pow"),
        helper.make_node("Div", ["pow_result", "sigma"], ["div_result"], name="Div"),
        helper.make_node("ReduceSum", ["div_result", "axis"], ["reduced_sum"], name="ReduceSum", keepdims=0),
        helper.make_node("Mul", ["reduced_sum", "prod_operand"], ["mul_result"], name="Mul"),
        helper.make_node("Sub", ["sigma_sum_log", "mul_result"], ["part_log_likelihood"], name="Sub1"),
        helper.make_node("Add", ["jointi", "part_log_likelihood"], ["jll"], name="Add"),
    ]
    inits = [onnx.numpy_helper.from_array(np.array([-1, 1, F], dtype=np.int64), "reshape_shape"),
             f32(theta.reshape(1, C, F), "theta"), f32(var.reshape(1, C, F), "sigma"), f32(2.0, "exponent"),
             onnx.numpy_helper.from_array(np.array([2], dtype=np.int64), "axis"), f32(0.5, "prod_operand"),
             f32((-0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)).reshape(1, C), "sigma_sum_log"),
             f32(np.asarray(log_prior).reshape(1, C), "jointi")]
    tail, tail_inits, outputs = _naive_bayes_tails(labels)
    return make_model(name, nodes + tail, [input_x(F)], outputs, doc, inits + tail_inits)


def multinomial_nb(feature_log_prob, class_log_prior, labels, name, doc):
    """feature_log_prob [C, F], class_log_prior [C] -> MatMul + Add, then the naive-Bayes tails."""
    onnx = _onnx()
    helper = onnx.helper
    flp = np.asarray(feature_log_prob, dtype=np.float64)
    C, F = flp.shape
    nodes = [helper.make_node("MatMul", ["X", "feature_log_prob"], ["matmul_result"], name="MatMul"),
             helper.make_node("Add", ["matmul_result", "class_log_prior"], ["jll"], name="Add")]
    inits = [onnx.numpy_helper.from_array(flp.T.astype(np.float32), "feature_log_prob"),
             onnx.numpy_helper.from_array(np.asarray(class_log_prior, dtype=np.float32).reshape(1, C),
                                          "class_log_prior")]
    tail, tail_inits, outputs = _naive_bayes_tails(labels)
    return make_model(name, nodes + tail, [input_x(F)], outputs, doc, inits + tail_inits)
