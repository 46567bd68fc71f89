"""Stub generation: solution regions become stubs naming their question; nothing else changes."""
import pytest

from course_lib.grading.assign import AssignError, exercise_from_solution, stub_source


def test_stub_names_question_and_function_and_keeps_the_rest():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n\ny = 3'
    stub = stub_source(source, "q2")
    assert 'raise NotImplementedError("q2: f is not implemented yet")' in stub
    assert "return x + 1" not in stub and '"""Doc."""' in stub and stub.endswith("y = 3")
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="q2"):
        namespace["f"](1)


def test_unbalanced_markers_are_errors():
    with pytest.raises(AssignError):
        stub_source("def f():\n    ### BEGIN SOLUTION\n    pass", "q1")
    with pytest.raises(AssignError):
        stub_source("def f():\n    ### END SOLUTION", "q1")


def test_outputs_cleared_and_solution_cells_need_metadata():
    notebook = {"nbformat": 4, "nbformat_minor": 4, "metadata": {"widgets": {}}, "cells": [
        {"cell_type": "code", "metadata": {"course": {"question": "q1"}, "collapsed": True}, "execution_count": 3,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "secret answer 42"}],
         "source": "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION"}]}
    exercise = exercise_from_solution(notebook)
    cell = exercise["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"] == {"course": {"question": "q1"}}
    assert "42" not in str(exercise)
    del notebook["cells"][0]["metadata"]["course"]
    with pytest.raises(AssignError):
        exercise_from_solution(notebook)
