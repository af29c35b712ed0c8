"""Shape arithmetic: output sizes, parameter counts and receptive fields. Taught in chapter 04."""
from __future__ import annotations

from dataclasses import dataclass

from hiercourse.errors import DataError


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Positions a kernel visits along one axis: ``floor((size + 2p - d(k-1) - 1) / s) + 1``.

    The same formula serves pooling windows (with ``dilation=1``). Raises DataError when
    the (dilated) kernel does not fit into the padded input. Taught in chapter 04.
    """
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                             ("padding", padding, 0), ("dilation", dilation, 1)):
        if int(value) != value or value < low:
            raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise DataError(
            f"a kernel spanning {span} pixels does not fit into {size} pixels padded by {padding} "
            "on each side; shrink the kernel or add padding"
        )
    return (size + 2 * padding - span) // stride + 1


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0) -> int:
    """Output length of a pooling window along one axis (stride defaults to the kernel). Taught in chapter 04."""
    return conv_output_size(size, kernel, kernel if stride is None else stride, padding)


def conv2d_param_count(c_in: int, c_out: int, kernel: int | tuple[int, int], groups: int = 1, bias: bool = True) -> int:
    """Weights ``c_out * (c_in / groups) * kh * kw`` plus ``c_out`` biases. Taught in chapter 04."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if c_in % groups or c_out % groups:
        raise DataError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
    return c_out * (c_in // groups) * kh * kw + (c_out if bias else 0)


def dense_param_count(n_in: int, n_out: int, bias: bool = True) -> int:
    """Weights ``n_out * n_in`` plus ``n_out`` biases. Taught in chapter 04."""
    return n_out * n_in + (n_out if bias else 0)


@dataclass(frozen=True)
class ReceptiveField:
    """After one layer: ``size`` input pixels seen by one output, ``jump`` input pixels between neighbouring outputs.

    One row of :func:`receptive_fields`'s result, named by ``layer``. Taught in chapter 04.
    """

    layer: str
    size: int
    jump: int


def receptive_fields(layers: list[tuple], input_name: str = "input") -> list[ReceptiveField]:
    """Receptive field of a stack of windowed layers, layer by layer.

    ``layers`` is a list of ``(name, kernel, stride)`` or ``(name, kernel, stride, dilation)``.
    Recurrence: ``r_l = r_{l-1} + d_l (k_l - 1) j_{l-1}`` and ``j_l = j_{l-1} s_l``
    with ``r_0 = j_0 = 1``. Returns one :class:`ReceptiveField` per layer, the input
    first. Taught in chapter 04.
    """
    out = [ReceptiveField(input_name, 1, 1)]
    for spec in layers:
        if len(spec) not in (3, 4):
            raise DataError(f"each layer is (name, kernel, stride[, dilation]), got {spec!r}")
        name, kernel, stride, *rest = spec
        dilation = rest[0] if rest else 1
        prev = out[-1]
        out.append(ReceptiveField(name, prev.size + dilation * (kernel - 1) * prev.jump, prev.jump * stride))
    return out
