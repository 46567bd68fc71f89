"""gradcheck itself: it must pass right gradients and catch wrong ones (inputs and parameters)."""
import numpy as np
import pytest

from course_lib.scratch import GradcheckError, Linear, Module, Parameter, gradcheck, numerical_gradient


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    numeric = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(numeric, 3 * x**2, rtol=1e-7)
    assert np.array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored after perturbing


def test_passes_a_correct_function_backward():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert gradcheck(np.tanh, x, backward=lambda grad: grad * (1 - np.tanh(x) ** 2))


def test_catches_a_wrong_function_backward():
    x = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(np.tanh, x, backward=lambda grad: grad * (1 - np.tanh(x)))  # forgot the square


def test_catches_a_small_error_in_one_entry():
    x = np.random.default_rng(1).standard_normal(5)

    def backward(grad):
        result = 2 * x * grad
        result[3] *= 1.001  # 0.1 % off in a single entry
        return result

    with pytest.raises(GradcheckError, match=r"index \(3,\)"):
        gradcheck(lambda v: v**2, x, backward=backward)


class ScaledLinear(Module):
    """y = x·Wᵀ with a deliberate bug switch in the weight gradient."""

    def __init__(self, bug: bool):
        super().__init__()
        self.weight = Parameter(np.random.default_rng(2).standard_normal((2, 3)))
        self.bug = bug

    def forward(self, x):
        self._x = x
        return x @ self.weight.data.T

    def backward(self, grad_output):
        grad_weight = grad_output.T @ self._x
        self.weight.grad += grad_weight.T.reshape(2, 3) if self.bug else grad_weight  # bug: wrong layout
        return grad_output @ self.weight.data


def test_checks_module_parameters():
    x = np.random.default_rng(3).standard_normal((4, 3))
    assert gradcheck(ScaledLinear(bug=False), x)
    with pytest.raises(GradcheckError, match="parameter 'weight'"):
        gradcheck(ScaledLinear(bug=True), x)


def test_passes_the_real_linear_and_reports_none_gradients():
    x = np.random.default_rng(4).standard_normal((2, 3))
    assert gradcheck(Linear(3, 2, dtype=np.float64), x)
    with pytest.raises(GradcheckError, match="returned None"):
        gradcheck(lambda v: v * 2, x, backward=lambda grad: None)


def test_needs_backward_for_plain_functions():
    with pytest.raises(TypeError, match="backward"):
        gradcheck(np.tanh, np.zeros(2))


def test_nested_outputs_get_gradients_nested_the_same_way():
    """LSTM returns (output, (h_n, c_n)) and its backward takes (grad_output, (grad_h_n, grad_c_n))."""
    from course_lib.scratch import LSTM

    x = np.random.default_rng(1).standard_normal((4, 3, 2))
    assert gradcheck(LSTM(2, 3, dtype=np.float64), x)
    received = []

    def backward(grad_output, grad_states):
        received.append((grad_output.shape, tuple(g.shape for g in grad_states)))
        return np.zeros_like(x)

    with pytest.raises(GradcheckError, match="input 0"):  # a wrong backward is still caught
        gradcheck(lambda v: (v * 2, (v[0], v[1])), x, backward=backward)
    assert received == [((4, 3, 2), ((3, 2), (3, 2)))]


def test_single_precision_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="needs float64 numbers, got float32 for input 0"):
        gradcheck(np.tanh, np.ones((2, 2), np.float32), backward=lambda grad: grad)
    with pytest.raises(ValueError, match="got float32 for parameter 'weight'"):
        gradcheck(Linear(2, 3), np.ones((4, 2)))
    assert gradcheck(Linear(2, 3, dtype=np.float64), np.ones((4, 2)))


def test_checks_every_input_not_only_the_first():
    """f(a, b) = a ⊙ b with dL/db 1 % off: the error in the second input's gradient is caught."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert gradcheck(lambda u, v: u * v, a, b, backward=lambda grad: (grad * b, grad * a))
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(lambda u, v: u * v, a, b, backward=lambda grad: (grad * b, 1.01 * grad * a))


class Affine(Module):
    """y = x ⊙ w + b with a deliberate bug switch in the gradient of b, the second parameter."""

    def __init__(self, bug: bool):
        super().__init__()
        rng = np.random.default_rng(6)
        self.weight = Parameter(rng.standard_normal(3))
        self.bias = Parameter(rng.standard_normal(3))
        self.bug = bug

    def forward(self, x):
        self._x = x
        return x * self.weight.data + self.bias.data

    def backward(self, grad_output):
        self.weight.grad += (grad_output * self._x).sum(axis=0)
        self.bias.grad += grad_output.sum(axis=0) * (1.01 if self.bug else 1.0)  # bug: 1 % too large
        return grad_output * self.weight.data


def test_checks_every_parameter_not_only_the_first():
    x = np.random.default_rng(7).standard_normal((4, 3))
    assert gradcheck(Affine(bug=False), x)
    with pytest.raises(GradcheckError, match="parameter 'bias'"):
        gradcheck(Affine(bug=True), x)


def test_relative_tolerance_is_per_entry():
    """Gradients of very different sizes (1000 and 1): a 1 % error in the small one is caught, not
    hidden by a tolerance scaled to the largest entry."""
    x = np.array([3.0, -2.0])
    scale = np.array([1000.0, 1.0])

    def backward(grad, error=1.0):
        return grad * scale * np.array([1.0, error])

    assert gradcheck(lambda v: v * scale, x, backward=backward)
    with pytest.raises(GradcheckError, match=r"index \(1,\)"):
        gradcheck(lambda v: v * scale, x, backward=lambda grad: backward(grad, error=1.01))


def test_random_output_weights_catch_a_mixed_up_gradient():
    """f(x) = x ⊙ w with a backward that reverses the upstream gradient: only a random (not all-ones)
    upstream gradient R in L = Σ f(x)·R shows that entries were mixed up."""
    x = np.random.default_rng(8).standard_normal(4)
    w = np.array([0.5, -1.0, 2.0, 1.5])
    assert gradcheck(lambda v: v * w, x, backward=lambda grad: grad * w)
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda v: v * w, x, backward=lambda grad: grad[::-1] * w)


@pytest.mark.parametrize("side", ["analytic", "numerical"])
def test_a_nan_gradient_on_either_side_fails(side):
    """|a − n| − tol is NaN there, and NaN > 0 is False: a NaN gradient passed (an audit)."""
    x = np.linspace(-1.0, 1.0, 5)
    if side == "analytic":
        with pytest.raises(GradcheckError, match="analytic nan"):
            gradcheck(lambda a: a * 2, x, backward=lambda g: g * np.nan)
    else:  # the function is NaN at x[2], so the probe loss Σ w·f and all its differences are NaN
        with pytest.raises(GradcheckError, match="numerical nan"):
            gradcheck(lambda a: np.where(np.abs(a) < 1e-3, np.nan, 2 * a), x, backward=lambda g: 2 * g)
