"""Cost of the built-in methods' reconstruct: a batch of SAMPLES fields at 92.5 % missing.

The benchmark is one ``reconstruct`` call on the batch (fit is done once, outside).
"""

import pytest

from reconbench.methods.registry import make_method

CASES = [("climatology", 4.0), ("climatology", 2.0), ("climatology", 1.0),
         ("nearest", 4.0), ("nearest", 2.0), ("nearest", 1.0),
         ("linear", 4.0), ("linear", 2.0)]


@pytest.mark.parametrize(("method", "fields"), CASES, indirect=["fields"],
                         ids=[f"{m}-{r:g}deg" for m, r in CASES])
def test_reconstruct(benchmark, method, fields):
    model = make_method(method).fit(fields.source.split("train"), fields.grid)
    benchmark.pedantic(model.reconstruct, args=(fields.obs,), rounds=3)
