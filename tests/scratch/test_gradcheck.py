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
    else:  # √a is finite at a = 0 and NaN at 0 − ε: that entry's difference is NaN
        with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(GradcheckError, match="numerical nan"):
            gradcheck(np.sqrt, np.array([0.0, 1.0, 2.0]), backward=lambda g: g * 0.5 / np.sqrt([1.0, 1.0, 2.0]))


# --- found by an audit of gradcheck as a student uses it (2026-12-06) -------------------------------------
def test_a_correct_gradient_of_large_outputs_passes():
    """The rounding error of the difference quotient grows with Σ|output · R|: a correct Linear on inputs
    of size 1e4 and exp on [0, 15] failed (torch's gradcheck passes both)."""
    from course_lib.scratch import Linear

    rng = np.random.default_rng(0)
    assert gradcheck(Linear(20, 20, dtype=np.float64), rng.standard_normal((16, 20)) * 1e4)
    x = rng.uniform(0, 15, 30)
    assert gradcheck(np.exp, x, backward=lambda g: g * np.exp(x))
    with pytest.raises(GradcheckError):  # and a wrong one still fails there
        gradcheck(np.exp, x, backward=lambda g: 2 * g * np.exp(x))


def test_one_array_passed_twice_and_views_are_checked_as_separate_inputs():
    x = np.random.default_rng(0).standard_normal(5)
    assert gradcheck(lambda a, b: a * b, x, x, backward=lambda g: (g * x, g * x))
    matrix = np.random.default_rng(1).standard_normal((4, 3))
    assert gradcheck(np.sin, matrix.T, backward=lambda g: g * np.cos(matrix.T))  # not contiguous
    assert gradcheck(np.sin, matrix[:, :2], backward=lambda g: g * np.cos(matrix[:, :2]))


def test_plain_numbers_integer_indices_and_masks_are_constants():
    x = np.random.default_rng(0).standard_normal(6)
    assert gradcheck(lambda v, s: s * v, x, 3.0, backward=lambda g: 3.0 * g)
    index = np.array([0, 2, 2])
    assert gradcheck(lambda v, i: v[i], x, index, backward=lambda g: np.bincount(index, g, minlength=6))
    mask = x > 0
    assert gradcheck(lambda v, m: v * m, x, mask, backward=lambda g: (g * mask, None))
    assert gradcheck(lambda v: float(np.sum(v)), x, backward=lambda g: np.full(6, g))  # a Python float out


@pytest.mark.parametrize("fn, backward, message", [
    (np.log, lambda g: g, r"output 0 of fn is not finite at index \(1,\)"),
    (lambda a: a.astype(np.float32) ** 2, lambda g: g, "needs float64 numbers, got float32 for output 0 of fn"),
    (lambda a: a.__iadd__(1.0) * 3, lambda g: 3 * g, "fn changed its input 0 in place"),
    (lambda a: a * np.random.default_rng().random(a.shape), lambda g: g, "different outputs for the same inputs"),
], ids=["non-finite", "float32-output", "in-place", "random"])
def test_what_makes_a_finite_difference_meaningless_is_named(fn, backward, message):
    """Each of these reported a bogus "disagrees at index (0,)" (or a NaN everywhere) before."""
    x = np.array([0.5, -0.5, 2.0])
    kept = x.copy()
    with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(ValueError, match=message):
        gradcheck(fn, x, backward=backward)
    assert np.array_equal(x, kept)  # the caller's array as it was, even after fn changed it


def test_a_backward_with_too_few_gradients_or_a_bad_check_inputs_is_named():
    x = np.ones(3)
    with pytest.raises(GradcheckError, match="backward returned 1 gradient"):
        gradcheck(lambda a, b: a * b, x, x.copy(), backward=lambda g: g)
    with pytest.raises(ValueError, match="check_inputs names input 2, but fn gets 1 inputs"):
        gradcheck(lambda a: a, x, backward=lambda g: g, check_inputs=[2])


def test_numerical_gradient_refuses_what_cannot_hold_x_plus_eps():
    """An integer x truncated x ± ε (gradients of 500 000), a list or eps = 0 raised from deep inside, and
    an f returning an array could not be stored (an audit, 2026-12-07)."""
    for x, got in ((np.array([1, 2, 3]), "dtype int64"), ([1.0, 2.0], "list")):
        with pytest.raises(ValueError, match=f"x must be a float NumPy array .*got {got}; pass x.astype"):
            numerical_gradient(lambda: 0.0, x)
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="needs a step eps > 0, got 0"):
        numerical_gradient(lambda: float(np.sum(x ** 2)), x, eps=0)
    with pytest.raises(ValueError, match=r"f\(\) to return one number \(the loss\), got shape \(2,\)"):
        numerical_gradient(lambda: x ** 2, x)
    np.testing.assert_allclose(numerical_gradient(lambda: np.sum(x ** 2, keepdims=True), x), 2 * x, rtol=1e-8)


def test_gradcheck_ignores_gradients_a_backward_before_it_left_in_the_parameters():
    """A model that already ran backward holds .grad: gradcheck clears it before its own backward,
    or the stale gradients would add to the analytic ones and a right layer would fail."""
    layer = Linear(3, 2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer(x)
    layer.backward(np.ones((4, 2)))
    assert gradcheck(layer, x)


def test_gradcheck_refuses_a_gradient_of_the_wrong_shape_even_with_the_right_numbers():
    x = np.random.default_rng(1).standard_normal((2, 3))
    with pytest.raises(GradcheckError, match=r"has shape \(1, 6\), expected \(2, 3\)"):
        gradcheck(lambda a: 2 * a, x, backward=lambda g: (2 * g).reshape(1, -1))
