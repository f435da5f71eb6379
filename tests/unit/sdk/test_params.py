"""@param declarations and the form fields `kuberun inspect` exports."""

from __future__ import annotations

import pytest

from kuberun import param
from kuberun.sdk import params


@pytest.mark.parametrize(
    "given, expected",
    [
        ("string", "string"),
        ("int", "int"),
        ("float", "float"),
        ("bool", "bool"),
        ("email", "email"),
        ("json", "json"),
        ("list", "list"),
        ("boolean", "bool"),
        ("number", "float"),
        ("select", "string"),
        ("Integer", "int"),
    ],
)
def test_types_and_aliases(given: str, expected: str) -> None:
    assert params.normalize_type(given) == expected


def test_unknown_type_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"invalid parameter type 'date'.*string, int, float"):
        param("when", "date")


def test_bad_declarations_fail_at_import() -> None:
    with pytest.raises(ValueError, match="validation must be a dict"):
        param("n", "int", validation=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a parameter name"):
        param("", "int")

    def f(a: int) -> None: ...

    param("a", "int")(f)
    with pytest.raises(ValueError, match="declared twice"):
        param("a", "int")(f)


def test_label_defaults_to_title_case() -> None:
    assert params.default_label("first_name") == "First Name"


def test_form_fields_merge_declarations_with_the_signature() -> None:
    @param("email", "email", label="Work email", required=True, help_text="h")
    @param("license", "string", data_provider="get_licenses")
    def onboard(
        context: object, email: str, license: str, seats: int = 2, tags: list[str] | None = None
    ) -> None: ...

    fields = params.form_fields(onboard, params.declared_params(onboard))
    by_name = {f["name"]: f for f in fields}
    assert [f["name"] for f in fields] == ["email", "license", "seats", "tags"]
    assert by_name["email"] == {
        "name": "email",
        "type": "email",
        "label": "Work email",
        "required": True,
        "validation": {},
        "dataProvider": None,
        "defaultValue": None,
        "helpText": "h",
        "inSignature": True,
    }
    assert by_name["license"]["dataProvider"] == "get_licenses"
    assert (by_name["seats"]["type"], by_name["seats"]["defaultValue"]) == ("int", 2)
    assert by_name["seats"]["label"] == "Seats" and not by_name["seats"]["required"]
    assert by_name["tags"]["type"] == "json" or by_name["tags"]["type"] == "list"
