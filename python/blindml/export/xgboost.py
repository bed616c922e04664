"""Fitted XGBoost models (XGBClassifier, XGBRegressor; Debian's python3-xgboost) to ONNX-ML, with
onnxmltools' conventions (its XGBConverter; onnxmltools is not in Debian): node ids renumbered in
pre-order, BRANCH_LT (XGBoost goes to "yes" when x < split, both float32), true = yes, false =
no, nodes_missing_value_tracks_true = (missing == yes), leaf values as weights; binary:logistic
-> post_transform LOGISTIC with base_values [logit(base_score)] unless base_score is 0.5;
multi:softprob / multi:softmax -> tree t scores class t mod K, post_transform SOFTMAX;
reg:squarederror -> TreeEnsembleRegressor with base_values [base_score].
"""

import json

import numpy as np

from . import _onnx
from .sklearn import ExportInfo, UnsupportedModelError, _labels_for


def _fill_trees(booster, classifier, n_classes_trees):
    pre = "class" if classifier else "target"
    attrs = _onnx.empty_tree_attrs(classifier, hitrates=False)
    trees = [json.loads(js) for js in booster.get_dump(dump_format="json")]

    def remap_ids(nd, remap):
        remap[nd["nodeid"]] = len(remap)
        for ch in nd.get("children", []):
            remap_ids(ch, remap)
        return remap

    def fill(t, nd, remap, out_id):
        nid = remap[nd["nodeid"]]
        attrs["nodes_treeids"].append(t)
        attrs["nodes_nodeids"].append(nid)
        if "children" in nd:
            feat = nd["split"]
            fid = int(feat[1:]) if str(feat).startswith("f") else int(feat)
            attrs["nodes_featureids"].append(fid)
            attrs["nodes_modes"].append("BRANCH_LT")
            attrs["nodes_values"].append(float(nd["split_condition"]))
            attrs["nodes_truenodeids"].append(remap[nd["yes"]])
            attrs["nodes_falsenodeids"].append(remap[nd["no"]])
            attrs["nodes_missing_value_tracks_true"].append(1 if nd.get("missing", -1) == nd["yes"] else 0)
            for ch in nd["children"]:
                fill(t, ch, remap, out_id)
        else:
            attrs["nodes_featureids"].append(0)
            attrs["nodes_modes"].append("LEAF")
            attrs["nodes_values"].append(0.0)
            attrs["nodes_truenodeids"].append(0)
            attrs["nodes_falsenodeids"].append(0)
            attrs["nodes_missing_value_tracks_true"].append(0)
            attrs[pre + "_treeids"].append(t)
            attrs[pre + "_nodeids"].append(nid)
            attrs[pre + "_ids"].append(out_id)
            attrs[pre + "_weights"].append(float(nd["leaf"]))

    for t, tree in enumerate(trees):
        fill(t, tree, remap_ids(tree, {}), t % n_classes_trees)
    return attrs


def export(model, name="model"):
    import xgboost
    if not isinstance(model, (xgboost.XGBClassifier, xgboost.XGBRegressor)):
        raise UnsupportedModelError("%s: blindml exports XGBClassifier and XGBRegressor" % type(model).__name__)
    booster = model.get_booster()
    cfg = json.loads(booster.save_config())
    objective = cfg["learner"]["objective"]["name"]
    base_score = float(cfg["learner"]["learner_model_param"]["base_score"])
    if cfg["learner"]["gradient_booster"]["name"] != "gbtree":
        raise UnsupportedModelError("XGBoost booster %r: blindml exports tree boosters (gbtree)"
                                    % cfg["learner"]["gradient_booster"]["name"])
    n = int(booster.num_features())
    doc = "%s (blindml.export, onnxmltools conventions)" % type(model).__name__
    if isinstance(model, xgboost.XGBClassifier):
        classes = model.classes_
        labels = _labels_for(classes)
        if objective == "binary:logistic":
            attrs = _fill_trees(booster, True, 1)
            if base_score != 0.5:
                attrs["base_values"] = [float(np.log(base_score / (1.0 - base_score)))]
            attrs["post_transform"] = "LOGISTIC"
        elif objective in ("multi:softprob", "multi:softmax"):
            k = len(classes)
            attrs = _fill_trees(booster, True, k)
            attrs["post_transform"] = "SOFTMAX"  # base_score shifts every class alike: softmax ignores it
        else:
            raise UnsupportedModelError("XGBClassifier objective %r" % objective)
        return _onnx.tree_classifier(attrs, labels, n, name, doc), ExportInfo("classifier", n, classes)
    if objective not in ("reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror"):
        raise UnsupportedModelError("XGBRegressor objective %r: blindml exports identity-link regressors" % objective)
    attrs = _fill_trees(booster, False, 1)
    attrs["base_values"] = [base_score]
    return _onnx.tree_regressor(attrs, 1, n, name, doc), ExportInfo("regressor", n)
