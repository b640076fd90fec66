"""Every way an update can be rejected has its own reason code, and the checks run in a safe order."""

from __future__ import annotations

import numpy as np
import pytest

from fedledger import codec
from fedledger.exceptions import ValidationError
from fedledger.rules.validation import REASONS, validate_update

LIMIT = 1 << 20


def base_model() -> codec.Tensors:
    return {"layers.0.weight": np.zeros((4, 3), np.float32), "layers.0.bias": np.zeros(4, np.float32)}


def honest_update() -> codec.Tensors:
    return {name: np.full(value.shape, 0.25, np.float32) for name, value in base_model().items()}


def reject(data: bytes, *, digest: bytes | None = None, max_bytes: int = LIMIT) -> ValidationError:
    """Validate ``data`` (registered under its own digest unless told) and return the error it raised."""
    expected = codec.model_digest(data) if digest is None else digest
    with pytest.raises(ValidationError) as caught:
        validate_update(data, base=base_model(), expected_digest=expected, max_bytes=max_bytes)
    assert caught.value.reason in REASONS
    return caught.value


def test_accepts_an_honest_update_and_returns_its_tensors() -> None:
    # Prepare
    data = codec.encode(honest_update())

    # Execute
    tensors = validate_update(
        data, base=base_model(), expected_digest=codec.model_digest(data), max_bytes=LIMIT
    )

    # Assert
    assert set(tensors) == set(base_model())
    np.testing.assert_array_equal(tensors["layers.0.bias"], honest_update()["layers.0.bias"])


def test_rejects_an_update_over_the_size_limit_as_too_large() -> None:
    data = codec.encode(honest_update())
    assert reject(data, max_bytes=len(data) - 1).reason == "too_large"


def test_rejects_bytes_that_do_not_hash_to_the_registered_digest() -> None:
    # Prepare: a valid update, but the participant registered the digest of another one
    other = codec.model_digest(codec.encode(base_model()))

    # Execute / Assert
    assert reject(codec.encode(honest_update()), digest=other).reason == "digest_mismatch"


def test_checks_the_digest_before_parsing_the_bytes() -> None:
    # Prepare: garbage nobody registered must not reach the parser
    garbage = b"\xff" * 64

    # Execute / Assert
    assert reject(garbage, digest=b"\x00" * 32).reason == "digest_mismatch"


def test_checks_the_size_before_the_digest() -> None:
    assert reject(b"\xff" * 64, digest=b"\x00" * 32, max_bytes=10).reason == "too_large"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"garbage that was registered honestly", id="garbage"),
        pytest.param(codec.encode({"w": np.zeros(2, np.float32)})[:-3], id="truncated"),
    ],
)
def test_rejects_registered_bytes_that_are_not_a_canonical_model_as_malformed(data: bytes) -> None:
    error = reject(data)
    assert error.reason == "malformed"
    assert error.detail


def test_rejects_an_update_with_a_missing_tensor_as_names_mismatch() -> None:
    # Prepare
    update = honest_update()
    del update["layers.0.bias"]

    # Execute
    error = reject(codec.encode(update))

    # Assert
    assert error.reason == "names_mismatch"
    assert "layers.0.bias" in error.detail


def test_rejects_an_update_with_an_extra_tensor_as_names_mismatch() -> None:
    update = honest_update() | {"backdoor": np.ones(1, np.float32)}
    assert reject(codec.encode(update)).reason == "names_mismatch"


def test_rejects_an_update_with_a_reshaped_tensor_as_shape_mismatch() -> None:
    # Prepare
    update = honest_update()
    update["layers.0.weight"] = np.zeros((3, 4), np.float32)

    # Execute
    error = reject(codec.encode(update))

    # Assert
    assert error.reason == "shape_mismatch"
    assert "layers.0.weight" in error.detail


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_an_update_containing_nan_or_infinity_as_non_finite(bad: float) -> None:
    # Prepare
    update = honest_update()
    update["layers.0.weight"][2, 1] = bad

    # Execute / Assert
    assert reject(codec.encode(update)).reason == "non_finite"


def test_validation_error_is_a_value_error_carrying_reason_and_detail() -> None:
    # Execute
    error = reject(b"x", digest=b"\x00" * 32)

    # Assert
    assert isinstance(error, ValueError)
    assert str(error).startswith("digest_mismatch: ")
