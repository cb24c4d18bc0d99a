"""Form and JSON payload parsing shared by the app blueprints."""

import pytest
from flask import Flask

from edgeinv.common.errors import InvalidInputError
from edgeinv.common.web.forms import form_number, request_payload


@pytest.mark.parametrize("raw, expected", [("2.5", 2.5), (3, 3.0), ("", None), (None, None)])
def test_form_number_accepts(raw, expected):
    assert form_number({"x": raw}, "x", low=0, high=10) == expected


@pytest.mark.parametrize("raw, kwargs, match", [
    ("abc", {}, "x must be a number"), ("nan", {}, "x must be"), ("inf", {}, "x must be"),
    ("11", {"low": 0, "high": 10}, "between 0 and 10"), ("0", {"low": 0, "low_exclusive": True}, "> 0"),
    ("", {"required": True}, "x is required"),
])
def test_form_number_rejects_with_the_field_name(raw, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        form_number({"x": raw}, "x", **kwargs)


def test_payload_json_or_form():
    app = Flask(__name__)
    with app.test_request_context(json={"a": 1}):
        assert request_payload() == {"a": 1}
    with app.test_request_context(method="POST", data={"b": "2"}):
        assert request_payload() == {"b": "2"}
    with app.test_request_context(method="POST", data="[1]", content_type="application/json"):
        with pytest.raises(InvalidInputError, match="JSON object"):
            request_payload()
