"""Inputs of more than 2**31 elements: every index in the kernels is 64-bit
(index_t = int64_t). Slow, and skipped when memory is short."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from conftest import mem_available

N = 2**31 + 17  # past the int32 range, and not a multiple of the block or the lanes


@pytest.mark.slow
def test_more_than_2_31_elements():
    need = N * 4 + (2 << 30)  # one float32 array, and room to spare
    if mem_available() < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of available memory")
    p = np.full(N, 0.5, np.float32)
    # markers past 2**31: elements the kernel reaches only with 64-bit indices
    p[2**31 + 3] = 4.5
    p[-1] = 2.5
    # y is one value repeated by the kernel (no copy): (0.25 - 0.5)^2 = 0.0625 per
    # element, exact in float32 and float64; the markers add (4.25^2 - 0.0625) and
    # (2.25^2 - 0.0625). Expected values by hand.
    expected = N * 0.0625 + (4.25**2 - 0.0625) + (2.25**2 - 0.0625)
    s = fl.mse(np.float32(0.25), p, reduction="sum")
    assert s.dtype == np.float32
    assert float(s) == pytest.approx(expected, rel=1e-7)
    m = fl.mse(np.float32(0.25), p)
    assert float(m) == pytest.approx(expected / N, rel=1e-7)
    # a probability outside [0, 1] past 2**31 is found and named by position
    p[2**31 + 3] = 0.5
    p[-1] = 1.5
    with pytest.raises(ValueError, match=f"position {N - 1}"):
        fl.binary_cross_entropy(np.float32(1.0), p, reduction="sum")
    p[-1] = 0.5
    # every element's BCE is log 2 (by hand: -log 0.5)
    b = fl.binary_cross_entropy(np.float32(1.0), p, reduction="sum")
    assert float(b) == pytest.approx(N * np.log(2.0), rel=1e-6)
