"""The error hierarchy: builtin compatibility, HTTP statuses, finite checks."""

import numpy as np
import pytest

from edgeinv.common import errors as E


def test_each_error_matches_its_builtin_and_status():
    assert issubclass(E.InvalidInputError, ValueError) and E.InvalidInputError.status == 400
    assert issubclass(E.UnsupportedFormatError, E.InvalidInputError) and E.UnsupportedFormatError.status == 415
    assert issubclass(E.NotFoundError, LookupError) and E.NotFoundError.status == 404
    assert issubclass(E.ModelIntegrityError, RuntimeError) and E.ModelIntegrityError.status == 500
    assert E.PayloadTooLargeError.status == 413 and E.AuthError.status == 401
    d = E.MissingMetadataError("no fs", hint="pass --fs").to_dict()
    assert d == {"error": "MissingMetadataError", "message": "no fs", "status": 400, "hint": "pass --fs"}


@pytest.mark.parametrize("bad, match", [(np.array([]), "empty"), (np.array([1.0, np.nan]), "1 NaN"),
                                        (np.array([np.inf, -np.inf, 0.0]), "2 NaN")])
def test_check_finite(bad, match):
    with pytest.raises(E.InvalidInputError, match=match):
        E.check_finite("signal", bad)
    E.check_finite("ok", np.arange(3))
