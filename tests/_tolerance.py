"""The tolerance rule every fast path is held to, shared by all test files.

A fast implementation in dtype ``d`` may be no further from the float64 truth than twice the error
the reference itself makes in dtype ``d``, plus a small absolute slack::

    |fast - ref64| <= 2 * |ref_dtype - ref64| + atol        (elementwise)

``ref_dtype`` is the reference computed in the fast path's dtype (e.g. float32) and ``ref64`` the
reference computed in float64. The slack ``atol`` covers elements where the reference happens to
round exactly while another summation order does not; :func:`default_atol` gives a value scaled to
the size of the outputs.

Usage (``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so this works from any test file
below ``tests/``, including ``tests/triton/``)::

    from _tolerance import assert_close_to_reference, default_atol
    assert_close_to_reference(fast, ref32, ref64, atol=default_atol(ref64, torch.float32))
"""

from __future__ import annotations

import torch

__all__ = ["assert_close_to_reference", "default_atol"]


def default_atol(ref64: torch.Tensor, dtype: torch.dtype, ulps: float = 64.0) -> float:
    """An absolute slack of ``ulps`` units of ``dtype``'s epsilon times the output's magnitude.

    Args:
        ref64: the float64 reference output (its largest magnitude sets the scale; at least 1).
        dtype: the dtype the fast path computed in.
        ulps: how many epsilons of slack; 64 is generous for reductions of a few hundred terms
            and still orders of magnitude below the error of any real indexing or mixing bug.

    Returns:
        ``ulps * eps(dtype) * max(1, max|ref64|)``.
    """
    scale = max(1.0, float(ref64.detach().abs().max())) if ref64.numel() else 1.0
    return ulps * torch.finfo(dtype).eps * scale


def assert_close_to_reference(
    fast: torch.Tensor, ref_dtype: torch.Tensor, ref64: torch.Tensor, atol: float
) -> None:
    """Assert ``|fast - ref64| <= 2 * |ref_dtype - ref64| + atol`` elementwise.

    Args:
        fast: output of the implementation under test.
        ref_dtype: the reference computed in ``fast``'s dtype.
        ref64: the reference computed in float64.
        atol: absolute slack (see :func:`default_atol`).

    Raises:
        AssertionError: on a shape mismatch, a NaN/inf that the reference does not have, or any
            violating element; the message gives the number of violations, the worst one's index,
            its values and the bound it broke.
    """
    if fast.shape != ref64.shape or ref_dtype.shape != ref64.shape:
        raise AssertionError(
            f"shape mismatch: fast {tuple(fast.shape)}, ref_dtype {tuple(ref_dtype.shape)}, "
            f"ref64 {tuple(ref64.shape)}"
        )
    fast64 = fast.detach().to(torch.float64)
    truth = ref64.detach().to(torch.float64)
    ref_err = (ref_dtype.detach().to(torch.float64) - truth).abs()
    err = (fast64 - truth).abs()
    bound = 2.0 * ref_err + atol
    # NaN compares False, so a NaN in ``fast`` (or in the reference) counts as a violation.
    violation = torch.where(err <= bound, torch.zeros_like(err), err - bound)
    violation = torch.where(torch.isnan(violation), torch.full_like(err, float("inf")), violation)
    bad = violation > 0
    if not bool(bad.any()):
        return
    flat_index = int(torch.argmax(violation.reshape(-1)))
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat_index), truth.shape))
    raise AssertionError(
        f"{int(bad.sum())} of {truth.numel()} elements break |fast - ref64| <= 2*|ref_dtype - ref64|"
        f" + atol (atol={atol:.3g}, fast dtype {fast.dtype}); worst at index {index}: "
        f"fast={fast64[index].item():.10g}, ref64={truth[index].item():.10g}, "
        f"ref_dtype error={ref_err[index].item():.3g}, |fast - ref64|={err[index].item():.3g}, "
        f"bound={bound[index].item():.3g}, max violation={violation.reshape(-1)[flat_index].item():.3g}"
    )
