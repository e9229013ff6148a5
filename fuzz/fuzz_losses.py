"""Fuzz harness (atheris) over the label, shape and parameter paths of every loss.

Each input picks a loss, an entry point, dtypes, shapes (broadcasting or not,
strided views), values (NaN, inf, subnormals, huge), hyper-parameters of any
type and value, labels of any integer or float, sample weights and out=.
The documented exceptions (ValueError, TypeError, IndexError) and RuntimeWarnings
are expected; anything else, a crash, or a changed input is a finding.

    pip install atheris
    python fuzz/fuzz_losses.py -atheris_runs=20000        # what CI runs
    python fuzz/fuzz_losses.py                             # until stopped
"""

from __future__ import annotations

import sys
import warnings

import atheris

with atheris.instrument_imports(include=["fastloss"]):
    import fastloss as fl

import numpy as np  # noqa: E402

LOSSES = sorted(fl.LOSSES.values(), key=lambda l: l.name)
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_,
          np.complex64, object, "datetime64[s]", "U3"]
SPECIAL = [0.0, -0.0, 1.0, 0.5, 1e-7, 1 - 1e-7, np.nan, np.inf, -np.inf, 5e-324, 1e-45, 3.4e38, 1.8e308,
           -1.0, 88.72284, 709.7827, 1e9, -1e9, 2.0**63, 2.0**64, -(2.0**63)]
EXPECTED = (ValueError, TypeError, IndexError)


def _shape(fdp, ndim_max=4):
    return tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(fdp.ConsumeIntInRange(0, ndim_max)))


def _array(fdp, shape=None, dtype=None):
    shape = _shape(fdp) if shape is None else shape
    dtype = DTYPES[fdp.ConsumeIntInRange(0, 8 if fdp.ConsumeProbability() < 0.95 else len(DTYPES) - 1)] \
        if dtype is None else dtype
    n = int(np.prod(shape))
    vals = []
    for _ in range(n):
        r = fdp.ConsumeIntInRange(0, 3)
        if r == 0:
            vals.append(SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)])
        elif r == 1:
            vals.append(fdp.ConsumeProbability())
        elif r == 2:
            vals.append(fdp.ConsumeRegularFloat())
        else:
            vals.append(float(fdp.ConsumeIntInRange(-3, 10)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            a = np.array(vals, dtype=np.float64).astype(dtype).reshape(shape)
        except (ValueError, TypeError, OverflowError):
            a = np.zeros(shape, dtype=np.float64)
    layout = fdp.ConsumeIntInRange(0, 4)
    if layout == 1 and a.ndim:
        a = np.asfortranarray(a)
    elif layout == 2 and a.size:
        big = np.repeat(a, 2, axis=-1) if a.ndim else a
        a = big[..., ::2] if a.ndim else big
    elif layout == 3 and a.ndim:
        a = a[..., ::-1]
    elif layout == 4:
        a.flags.writeable = False
    return a


def _param(fdp):
    """Any hyper-parameter value: numbers (incl. bad ones), bools, None, arrays, strings."""
    r = fdp.ConsumeIntInRange(0, 9)
    if r < 4:
        return SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)] if r == 0 else fdp.ConsumeProbability() * 3
    if r == 4:
        return fdp.ConsumeIntInRange(-200, 200)
    if r == 5:
        return bool(fdp.ConsumeBool())
    if r == 6:
        return None
    if r == 7:
        return _array(fdp, shape=_shape(fdp, 2))
    if r == 8:
        return fdp.ConsumeUnicode(3)
    return fdp.ConsumeIntInRange(-(2**64), 2**64)


def _args(loss, fdp):
    d = loss.domain
    if d == "sparse":
        lab_shape = _shape(fdp, 3)
        C = fdp.ConsumeIntInRange(0, 6)
        labels = np.array([fdp.ConsumeIntInRange(-3, 8) if fdp.ConsumeProbability() < 0.9
                           else fdp.ConsumeIntInRange(-(2**63), 2**63 - 1) for _ in range(int(np.prod(lab_shape)))],
                          dtype=np.int64).reshape(lab_shape)
        if fdp.ConsumeBool():
            with np.errstate(all="ignore"):
                labels = labels.astype(DTYPES[fdp.ConsumeIntInRange(0, 8)])
        return [labels, _array(fdp, lab_shape + (C,) if fdp.ConsumeProbability() < 0.8 else None)]
    if d in ("categorical", "triplet"):
        shape = _shape(fdp, 3)
        k = 2 if d == "categorical" else 3
        return [_array(fdp, shape if fdp.ConsumeProbability() < 0.8 else None) for _ in range(k)]
    if loss.name == "gan_generator_loss":
        return [_array(fdp)]
    shape = _shape(fdp)
    return [_array(fdp, shape if fdp.ConsumeProbability() < 0.7 else None) for _ in range(2)]


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    loss = LOSSES[fdp.ConsumeIntInRange(0, len(LOSSES) - 1)]
    # the four computing entry points (loss.reference is the plain-NumPy test oracle:
    # it does not validate hyper-parameters, e.g. triplet_loss.reference(p=0) divides by 0)
    entry = fdp.ConsumeIntInRange(0, 3)
    args = _args(loss, fdp)
    kw = {}
    for p in loss.params:
        if fdp.ConsumeProbability() < 0.3:
            kw[p.name] = _param(fdp)
    if fdp.ConsumeProbability() < 0.3:
        kw["sample_weight"] = _array(fdp, _shape(fdp, 2) if fdp.ConsumeBool() else np.shape(args[-1])[:1])
    kw["reduction"] = ["mean", "sum", "none", "bad"][fdp.ConsumeIntInRange(0, 3)]
    out = None
    if fdp.ConsumeProbability() < 0.2:
        out = _array(fdp, np.shape(args[-1]) if fdp.ConsumeBool() else None, np.float64)
        kw["out"] = out if entry != 3 else (out, out.copy())
    before = [a.tobytes() for a in args if isinstance(a, np.ndarray)]
    out_before = None if out is None else out.tobytes()
    fn = [loss, loss.grad, loss.value_and_grad, loss.grad_hess][entry]
    ok = True
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fn(*args, **kw)
        except EXPECTED:
            ok = False
    if [a.tobytes() for a in args if isinstance(a, np.ndarray)] != before:
        raise AssertionError(f"{loss.name}: an input was modified")
    if not ok and out is not None and out.tobytes() != out_before:
        raise AssertionError(f"{loss.name}: out= was written by a call that raised")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
