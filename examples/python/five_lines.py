#!/usr/bin/python3
"""An encrypted prediction from a fitted scikit-learn model in five lines."""
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
import blindml

X, y = load_breast_cancer(return_X_y=True)
model = blindml.compile(LogisticRegression(max_iter=10000).fit(X, y), X)
print(model.predict(X[:3], fhe="execute"), y[:3])
