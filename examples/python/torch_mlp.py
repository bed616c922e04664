#!/usr/bin/python3
"""A PyTorch MLP on iris, compiled with blindml and run under FHE.

    PYTHONPATH=python:build/python /usr/bin/python3 examples/python/torch_mlp.py
"""

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import blindml


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=3, help="test rows to predict under FHE (default %(default)s)")
    p.add_argument("--hidden", type=int, default=8)
    p.add_argument("--n-bits", type=int, default=6, help="bits of inputs, weights and rounded accumulators")
    args = p.parse_args()

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, args.hidden)
            self.fc2 = torch.nn.Linear(args.hidden, 3)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    net = Net()
    # standardisation as the first layer's job: train on scaled data, then fold it in
    xs = torch.tensor((X_train - mean) / std, dtype=torch.float32)
    yt = torch.tensor(y_train)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xs), yt).backward()
        opt.step()
    with torch.no_grad():
        w = net.fc1.weight / torch.tensor(std, dtype=torch.float32)
        net.fc1.bias -= (w * torch.tensor(mean, dtype=torch.float32)).sum(dim=1)
        net.fc1.weight.copy_(w)
        float_pred = net(torch.tensor(X_test, dtype=torch.float32)).argmax(dim=1).numpy()

    # Concrete ML: compile_torch_model(net, X_train, n_bits=6, rounding_threshold_bits=6)
    model = blindml.compile(net, X_train, classifier=True, n_bits=args.n_bits, rounding_threshold_bits=args.n_bits,
                            exact_rounding=True)
    print(model.report)
    print("float accuracy %.3f, clear quantized accuracy %.3f" % (np.mean(float_pred == y_test),
                                                                np.mean(model.predict(X_test) == y_test)))
    rows = X_test[: args.rows]
    t0 = time.time()
    fhe = model.predict(rows, fhe="execute")
    print("FHE (keygen + %d rows): %.2f s -> %s" % (len(rows), time.time() - t0, fhe.tolist()))
    clear = model.predict(rows, fhe="disable")
    assert np.array_equal(fhe, clear), (fhe, clear)
    print("ok: FHE labels equal the clear model's")


if __name__ == "__main__":
    main()
