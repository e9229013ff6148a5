"""Stubs of the compiled module fastloss._core (private)."""

from typing import Optional, Protocol, Union

import numpy as np

block_size: int
openmp: bool
MODE_SUM: int
MODE_VALUE: int
MODE_GRAD: int
MODE_HESS: int
MODE_WEIGHTED: int

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def isa() -> str: ...
def available_isas() -> list[str]: ...
def select_isa(name: str) -> None: ...
def weight_sum(w: np.ndarray) -> tuple[float, int]: ...
def first_outside(x: np.ndarray, unit: bool) -> int: ...

class _ElementwiseKernel(Protocol):
    """(mode, y, p, a, w, value, grad, hess, scale, params[, denominator]) -> the float64 sum, or with
    a denominator other than 0, sum / denominator as a NumPy scalar of the kernel's dtype."""

    def __call__(self, mode: int, y: np.ndarray, p: np.ndarray, a: Optional[np.ndarray], w: Optional[np.ndarray],
                 value: Optional[np.ndarray], grad: Optional[np.ndarray], hess: Optional[np.ndarray], scale: float,
                 params: tuple[float, ...], denominator: float = 0.0) -> Union[float, np.floating]: ...

mse: _ElementwiseKernel
mae: _ElementwiseKernel
huber: _ElementwiseKernel
cauchy: _ElementwiseKernel

def bandwidth_probe(y: np.ndarray, p: np.ndarray, a: np.ndarray | None = None) -> float: ...
def parallel_threshold(cost: int) -> int: ...
def set_parallel_threshold(cost: int, n: int) -> None: ...

# Custom losses (fastloss.custom): {name: (opcode, arity)} and the kernel of compiled programs.
custom_ops: dict[str, tuple[int, int]]
custom_max_slots: int
custom_max_instructions: int

class CustomKernel(_ElementwiseKernel):
    def __init__(self, variants: dict[int, tuple[list[tuple[int, int, int, int, int]], int, list[float], int, int,
                                                  int]], n_params: int, transcendental: bool) -> None: ...
