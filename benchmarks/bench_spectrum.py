"""Benchmark: what probe.spectrum costs, against the training it rides on, measured in one run.

    python benchmarks/bench_spectrum.py [EXAMPLES]

For width-256 tanh nets on their critical line at depths 16 and 64 (the dynamical_isometry
study's shapes), times the Jacobian's singular values of EXAMPLES probe examples (default 8: the
study's; float64, dz_L/dz_1 built layer by layer, then one batched SVD) and 100 plain SGD steps
of the same net (batch 128, one thread), and prints both and their ratio: the spectrum is taken
once, at step 0, so its share of a job is that ratio over the job's steps / 100.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from annlab.config import ActivationConfig, InitConfig, LayerConfig, init
from annlab.net.model import MLP
from annlab.net.spectrum import singular_values

WIDTH, BATCH, FEATURES, CLASSES, STEPS = 256, 128, 64, 10, 100


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return min(times)


def main(examples: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, FEATURES), torch.randint(0, CLASSES, (BATCH,))
    print(f"probe.spectrum={examples}, width {WIDTH}, tanh on its critical line (q* = 1/64), one thread")
    for depth in (16, 64):
        layer = LayerConfig(
            width=WIDTH,
            activation=ActivationConfig(name="tanh"),
            init=InitConfig(name="critical_line", params={"q_star": 1 / 64}),
        )
        model = MLP(FEATURES, [layer] * depth, CLASSES, "multiclass", init("xavier_normal"))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)

        def train(model: MLP = model, opt: torch.optim.Optimizer = opt) -> None:
            for _ in range(STEPS):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()

        spectrum = best_of(lambda model=model: singular_values(model.layers(), model.acts, x[:examples]))
        steps = best_of(train, repeats=2)
        print(
            f"depth {depth:>2}: spectrum {spectrum:.3f} s, {STEPS} training steps {steps:.3f} s: "
            f"the spectrum costs {spectrum / steps * STEPS:.1f} training steps"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
