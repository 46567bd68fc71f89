"""Module registries as torch keeps them: names set to None, non-persistent buffers, recurse and
remove_duplicate, and the list operations of Sequential and ModuleList — each written once for
both libraries and compared."""
import numpy as np
import pytest
import torch

from course_lib.scratch import Linear, Module, ModuleList, Parameter, Sequential
from course_lib.scratch.activations import ReLU, Tanh

SIDES = {
    "scratch": dict(Module=Module, Linear=Linear, ReLU=ReLU, Tanh=Tanh, Sequential=Sequential,
                    ModuleList=ModuleList, Parameter=lambda shape: Parameter(np.zeros(shape)),
                    array=np.zeros),
    "torch": dict(Module=torch.nn.Module, Linear=torch.nn.Linear, ReLU=torch.nn.ReLU, Tanh=torch.nn.Tanh,
                  Sequential=torch.nn.Sequential, ModuleList=torch.nn.ModuleList,
                  Parameter=lambda shape: torch.nn.Parameter(torch.zeros(shape)), array=torch.zeros),
}


def _on_both(build):
    """``build(namespace)`` run with each library's classes; returns {side: result}."""
    return {side: build(names) for side, names in SIDES.items()}


def _kinds(container):
    return [type(module).__name__ for module in container]


def _same(results):
    assert results["scratch"] == results["torch"], results


def test_a_parameter_or_child_set_to_none_keeps_its_name_and_place():
    def build(nn):
        model = nn["Module"]()
        model.first = nn["Linear"](2, 3)
        model.second = nn["Linear"](3, 1)
        model.scale = nn["Parameter"]((1,))
        model.first.bias = None
        model.first = None
        absent = (model.first, list(dict(model.named_children())), list(model.state_dict()))
        model.first = nn["Linear"](2, 3)  # back in its old place: state_dict order is unchanged
        model.scale = None
        model.scale = nn["Parameter"]((1,))
        return absent, list(model.state_dict()), [name for name, _ in model.named_parameters()]

    _same(_on_both(build))


def test_a_name_set_to_none_still_refuses_a_plain_value():
    for nn in SIDES.values():
        model = nn["Linear"](2, 3)
        model.bias = None
        with pytest.raises(TypeError, match="bias"):
            model.bias = nn["array"](3)
        holder = nn["Module"]()
        holder.child = nn["ReLU"]()
        holder.child = None
        with pytest.raises(TypeError, match="child"):
            holder.child = 3


def test_register_parameter_none_registers_the_name_and_refuses_an_attribute_in_use():
    def build(nn):
        model = nn["Module"]()
        model.register_parameter("bias", None)
        model.register_buffer("table", nn["array"](2))
        with pytest.raises(KeyError, match="already exists"):
            model.register_parameter("table", None)
        model.bias = nn["Parameter"]((2,))
        return list(model.state_dict()), model.__repr__().count("\n")

    _same(_on_both(build))


def test_a_buffer_that_is_not_persistent_stays_out_of_the_state_dict_only():
    def build(nn):
        model = nn["Module"]()
        model.register_buffer("kept", nn["array"](2))
        model.register_buffer("rebuilt", nn["array"](3), persistent=False)
        outer = nn["Sequential"](model)
        names = [name for name, _ in outer.named_buffers()], list(outer.state_dict())
        with pytest.raises(RuntimeError, match="rebuilt"):
            outer.load_state_dict({"0.kept": nn["array"](2), "0.rebuilt": nn["array"](3)})
        model.register_buffer("rebuilt", nn["array"](3), persistent=True)  # registering again may change it
        return names, len(list(outer.buffers())), list(outer.state_dict())

    _same(_on_both(build))


def test_recurse_and_remove_duplicate_as_torch():
    def build(nn):
        shared = nn["Linear"](2, 2)
        model = nn["Sequential"](shared, nn["ReLU"](), shared)
        model.register_parameter("own", nn["Parameter"]((1,)))
        model.register_buffer("steps", nn["array"](1))
        shared.register_buffer("count", nn["array"](1))

        def names(items):
            return [name for name, _ in items]

        return (names(model.named_parameters()),
                names(model.named_parameters(recurse=False)),
                names(model.named_parameters(remove_duplicate=False)),
                names(model.named_parameters(prefix="net")),
                len(list(model.parameters(recurse=False))),
                names(model.named_buffers()),
                names(model.named_buffers(recurse=False)),
                names(model.named_buffers(remove_duplicate=False)),
                names(model.named_buffers(prefix="net")))

    _same(_on_both(build))


def test_tied_parameters_are_listed_once_even_in_two_modules():
    def build(nn):
        first, second = nn["Linear"](3, 3), nn["Linear"](3, 3)
        second.weight = first.weight
        model = nn["Sequential"](first, second)
        return ([name for name, _ in model.named_parameters()],
                [name for name, _ in model.named_parameters(remove_duplicate=False)])

    _same(_on_both(build))


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_insert_pop_delete_and_replace_renumber_as_torch(container):
    def build(nn):
        box = nn[container]([nn["Linear"](1, 1), nn["ReLU"](), nn["Tanh"]()]) if container == "ModuleList" \
            else nn[container](nn["Linear"](1, 1), nn["ReLU"](), nn["Tanh"]())
        seen = []
        box.insert(1, nn["Tanh"]())
        seen.append((_kinds(box), list(dict(box.named_children()))))
        box.insert(len(box) - 1, nn["Linear"](1, 1))  # torch 2.13's ModuleList.insert fails on -1
        box.insert(len(box), nn["ReLU"]())
        seen.append(_kinds(box))
        popped = box.pop(0)
        seen.append((type(popped).__name__, _kinds(box), list(box.state_dict())))
        del box[-2]
        del box[1:3]
        seen.append((_kinds(box), list(dict(box.named_children()))))
        box[0] = nn["Linear"](1, 1)
        box[-1] = nn["Tanh"]()
        seen.append((_kinds(box), list(box.state_dict())))
        for bad in (lambda: box.pop(7), lambda: box.__delitem__(7), lambda: box.__setitem__(7, nn["ReLU"]())):
            with pytest.raises(IndexError):
                bad()
        seen.append(_kinds(box))
        return seen

    _same(_on_both(build))


def test_a_container_refuses_to_insert_or_place_something_that_is_not_a_module():
    for container in (Sequential(ReLU()), ModuleList([ReLU()])):
        with pytest.raises(TypeError, match="ndarray"):
            container.insert(0, np.zeros(2))
        with pytest.raises(TypeError, match="ndarray"):
            container[0] = np.zeros(2)
        assert _kinds(container) == ["ReLU"]


def test_a_sequential_after_pop_and_insert_still_trains_like_torchs():
    rng = np.random.default_rng(0)
    scratch = Sequential(Linear(3, 4, dtype=np.float64), Tanh(), Linear(4, 2, dtype=np.float64))
    scratch.insert(2, ReLU())
    scratch.pop(1)
    reference = torch.nn.Sequential(*(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))).double()
    reference.load_state_dict({key: torch.from_numpy(value) for key, value in scratch.state_dict().items()})
    x = rng.normal(size=(5, 3))
    out = scratch(x)
    scratch.backward(np.ones_like(out))
    expected = reference(torch.from_numpy(x))
    expected.sum().backward()
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(scratch[0].weight.grad, reference[0].weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_a_place_set_to_none_survives_renumbering_and_slicing_as_torchs(container):
    """A None entry keeps its name and place through del, insert and slices; before, renumbering dropped
    it, and the gap let a later append replace a live layer."""
    def build(nn):
        make = (lambda *items: nn[container](list(items))) if container == "ModuleList" else nn[container]
        box = make(nn["ReLU"](), nn["Tanh"](), nn["ReLU"]())
        box[1] = None
        seen = [list(dict(box._modules).keys()), [type(m).__name__ for m in box._modules.values()]]
        del box[0]
        box.insert(0, nn["Tanh"]())
        box.append(nn["ReLU"]())
        seen.append([(name, type(m).__name__) for name, m in box._modules.items()])
        part = box[1:]
        seen.append([(name, type(m).__name__) for name, m in part._modules.items()])
        return seen

    _same(_on_both(build))


def test_sequential_insert_returns_it_and_refuses_an_index_out_of_range_as_torchs():
    for nn in SIDES.values():
        seq = nn["Sequential"](nn["Linear"](2, 2), nn["ReLU"]())
        assert seq.insert(1, nn["Tanh"]()) is seq and len(seq) == 3
        assert seq.insert(-3, nn["Tanh"]()) is seq and [type(m).__name__ for m in seq] == ["Tanh", "Linear",
                                                                                             "Tanh", "ReLU"]
        for index in (5, -5):
            with pytest.raises(IndexError):
                seq.insert(index, nn["ReLU"]())
        named = nn["Sequential"]()
        named.add_module("conv", nn["Linear"](2, 2))
        with pytest.raises(KeyError):  # its modules cannot be renumbered: torch raises too
            named.insert(0, nn["ReLU"]())
    assert ModuleList([ReLU()]).insert(0, Tanh()) is None  # torch's ModuleList.insert returns None
