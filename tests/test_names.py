import pytest

from exptool.errors import InvalidNameError
from exptool.names import MAX_NAME_LENGTH, validate_name


@pytest.mark.parametrize("name", ["foo", "run_1", "a.b-c", "X" * MAX_NAME_LENGTH, "v1.0", "_hidden"])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "-x", "a/b", "../x", "/abs", "a\\b", "a b", "tab\t", "nl\n", "é", "X" * (MAX_NAME_LENGTH + 1),
     "a\x00b"],
)
def test_invalid_names(name):
    with pytest.raises(InvalidNameError) as info:
        validate_name(name, "run name")
    assert "run name" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "problem"),
    [("a/b", "must be a single folder name"), ("a\\b", "must be a single folder name"),
     ("my run", "contains ' '"), ("lr=0.1", "contains '='"), ("tab\t", "contains '\\t'")],
)
def test_the_message_names_the_problem(name, problem):
    with pytest.raises(InvalidNameError) as info:
        validate_name(name, "run name")
    assert info.value.message == f"Invalid run name: {name!r} {problem}."
