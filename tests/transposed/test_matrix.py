"""conv_matrix: it is the Jacobian of the convolution, and its transpose is the transposed convolution."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd.functional import jacobian

from pixelseg.transposed import conv_matrix, conv_transpose2d_matrix


CASES = [
    # (C_out, C_in, groups, kernel, in_size, stride, padding, dilation)
    (1, 1, 1, (3, 3), (4, 4), 1, 0, 1),
    (2, 3, 1, (3, 2), (5, 6), (2, 1), (1, 0), 1),
    (4, 2, 2, (2, 3), (6, 5), 2, 1, (2, 1)),
    (3, 3, 3, (1, 1), (3, 4), 3, 0, 1),
    (2, 1, 1, (4, 4), (7, 7), 2, 2, 1),
]


@pytest.mark.parametrize("cout, cin, groups, kernel, in_size, stride, padding, dilation", CASES)
def test_conv_matrix_is_the_jacobian(cout, cin, groups, kernel, in_size, stride, padding, dilation):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(cout, cin // groups, *kernel, generator=gen, dtype=torch.float64)
    x = torch.randn(1, cin, *in_size, generator=gen, dtype=torch.float64)

    def conv(inp):
        return F.conv2d(inp, w, stride=stride, padding=padding, dilation=dilation, groups=groups).flatten()

    jac = jacobian(conv, x).reshape(-1, x.numel())
    c = conv_matrix(w, in_size, stride, padding, dilation, groups)
    assert c.layout == torch.sparse_coo
    torch.testing.assert_close(c.to_dense(), jac, rtol=0, atol=0)  # the same weights, placed, nothing summed


@pytest.mark.parametrize("cout, cin, groups, kernel, in_size, stride, padding, dilation", CASES)
def test_c_transpose_times_y_is_conv_transpose(cout, cin, groups, kernel, in_size, stride, padding, dilation):
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(cout, cin // groups, *kernel, generator=gen, dtype=torch.float64)
    c = conv_matrix(w, in_size, stride, padding, dilation, groups)
    out_shape = F.conv2d(torch.zeros(1, cin, *in_size, dtype=torch.float64), w, stride=stride, padding=padding,
                         dilation=dilation, groups=groups).shape
    y = torch.randn(out_shape, generator=gen, dtype=torch.float64)
    # conv_transpose2d reads the conv2d weight (C_out, C_in/g) as (its C_in, its C_out/g): the same tensor.
    # output_padding recovers the input size the stride rounded away.
    a = tuple((in_size[d] + 2 * _pair(padding)[d] - _pair(dilation)[d] * (kernel[d] - 1) - 1) % _pair(stride)[d]
              for d in range(2))
    expected = F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=a, dilation=dilation,
                                  groups=groups)
    assert expected.shape[-2:] == in_size
    ct_y = torch.sparse.mm(c.t(), y.reshape(-1, 1)).reshape(expected.shape)
    torch.testing.assert_close(ct_y, expected, rtol=1e-10, atol=1e-10)


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def test_3x3_kernel_on_4x4_input_is_4x16():
    k = torch.arange(1.0, 10.0).reshape(3, 3)
    c = conv_matrix(k, 4).to_dense()
    assert c.shape == (4, 16)
    # row 0: the kernel rows at input positions 0-2, 4-6, 8-10 (the first 3x3 window)
    assert c[0].tolist() == [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]
    # row 3: the same kernel, one row down and one column right
    assert c[3].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9]
    assert (c != 0).sum() == 4 * 9


def test_transposed_is_not_the_inverse():
    k = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    c = conv_matrix(k, 3).to_dense()  # 4x9
    ctc = c.T @ c
    assert ctc.shape == (9, 9)
    assert not torch.allclose(ctc, torch.eye(9, dtype=torch.float64))  # it restores the size, not the values


def test_works_on_64x64():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(4, 3, 3, 3, generator=gen)
    c = conv_matrix(w, 64, padding=1)
    assert c.shape == (4 * 64 * 64, 3 * 64 * 64)
    assert c._nnz() <= 4 * 3 * 9 * 64 * 64  # sparse: the dense matrix would hold ~600 M entries
    x = torch.randn(2, 4, 64, 64, generator=gen)
    torch.testing.assert_close(conv_transpose2d_matrix(x, w, padding=1), F.conv_transpose2d(x, w, padding=1),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv_transpose2d_matrix(x[:, :, :32, :32], w, stride=2, padding=1, output_padding=1),
                               F.conv_transpose2d(x[:, :, :32, :32], w, stride=2, padding=1, output_padding=1),
                               rtol=1e-5, atol=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="weight must be"):
        conv_matrix(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="kernel spans"):
        conv_matrix(torch.zeros(5, 5), 4)
    with pytest.raises(ValueError, match="groups"):
        conv_matrix(torch.zeros(3, 1, 2, 2), 4, groups=2)
