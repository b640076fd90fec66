"""The codec gives a model exactly one byte string (so one digest) that any safetensors reader loads."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedledger import codec
from fedledger.exceptions import CodecError

NAMES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12).filter(
    lambda name: name != "__metadata__"  # the safetensors header's reserved key (see test below)
)
ARRAYS = hnp.arrays(
    dtype=np.float32,
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
)
MODELS = st.dictionaries(NAMES, ARRAYS, min_size=1, max_size=5)


def small_model() -> codec.Tensors:
    return {
        "layers.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "layers.0.bias": np.array([0.5, -1.5], dtype=np.float32),
    }


@settings(max_examples=75, deadline=None)
@given(MODELS)
def test_decode_inverts_encode_bit_for_bit(tensors: codec.Tensors) -> None:
    # Prepare / Execute
    data = codec.encode(tensors)
    decoded = codec.decode(data)

    # Assert: same names, shapes and bits (NaN payloads included), and the bytes are a fixed point
    assert set(decoded) == set(tensors)
    for name, value in tensors.items():
        assert decoded[name].dtype == np.float32
        assert decoded[name].shape == value.shape
        assert decoded[name].tobytes() == value.tobytes()
    assert codec.encode(decoded) == data


@settings(max_examples=50, deadline=None)
@given(MODELS, st.randoms(use_true_random=False))
def test_bytes_do_not_depend_on_dict_insertion_order(tensors: codec.Tensors, rnd: object) -> None:
    # Prepare
    names = list(tensors)
    rnd.shuffle(names)  # type: ignore[attr-defined]
    reordered = {name: tensors[name] for name in names}

    # Execute / Assert
    assert codec.encode(reordered) == codec.encode(tensors)
    assert codec.model_digest(codec.encode(reordered)) == codec.model_digest(codec.encode(tensors))


@settings(max_examples=50, deadline=None)
@given(MODELS)
def test_safetensors_reader_loads_our_bytes(tensors: codec.Tensors) -> None:
    # Execute
    loaded = safetensors.numpy.load(codec.encode(tensors))

    # Assert
    assert set(loaded) == set(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == np.float32
        assert loaded[name].tobytes() == value.tobytes()


def test_encode_converts_float64_weights_to_float32() -> None:
    # Prepare
    as64 = {name: value.astype(np.float64) for name, value in small_model().items()}

    # Execute / Assert
    assert codec.encode(as64) == codec.encode(small_model())


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            lambda t: safetensors.numpy.save(t, metadata={"round": "1"}), id="safetensors-with-metadata"
        ),
        pytest.param(safetensors.numpy.save, id="safetensors-own-header-layout"),
        pytest.param(
            lambda t: safetensors.numpy.save({k: v.astype(np.float64) for k, v in t.items()}),
            id="float64-dtype",
        ),
        pytest.param(
            lambda t: safetensors.numpy.save({k: v.astype(np.float16) for k, v in t.items()}), id="float16"
        ),
        pytest.param(lambda t: codec.encode(t)[:-1], id="truncated-data"),
        pytest.param(lambda t: codec.encode(t)[:20], id="truncated-header"),
        pytest.param(lambda t: codec.encode(t) + b"\x00", id="trailing-byte"),
        pytest.param(lambda t: b"", id="empty"),
        pytest.param(lambda t: b"not a model at all, just some text", id="garbage-text"),
        pytest.param(lambda t: bytes(range(256)) * 4, id="garbage-binary"),
        pytest.param(lambda t: (2**40).to_bytes(8, "little") + b"{}", id="huge-header-length"),
        pytest.param(lambda t: (2).to_bytes(8, "little") + b"{}", id="empty-header"),
    ],
)
def test_decode_rejects_bytes_that_are_not_canonical(bad: object) -> None:
    # Prepare
    data = bad(small_model())  # type: ignore[operator]

    # Execute / Assert
    with pytest.raises(CodecError):
        codec.decode(data)


def test_decode_rejects_input_over_the_size_limit() -> None:
    # Prepare
    data = codec.encode(small_model())

    # Execute / Assert
    with pytest.raises(CodecError, match="over the limit"):
        codec.decode(data, max_bytes=len(data) - 1)
    assert codec.decode(data, max_bytes=len(data)).keys() == small_model().keys()


@pytest.mark.parametrize(
    "tensors",
    [
        pytest.param({}, id="no-tensors"),
        pytest.param({"": np.zeros(1, np.float32)}, id="empty-name"),
        pytest.param({"wé": np.zeros(1, np.float32)}, id="non-ascii-name"),
        pytest.param({"w": np.zeros(1, np.int32)}, id="integer-dtype"),
    ],
)
def test_encode_refuses_what_cannot_be_a_model(tensors: codec.Tensors) -> None:
    with pytest.raises(CodecError):
        codec.encode(tensors)


def test_digest_changes_when_one_value_changes() -> None:
    # Prepare
    base = small_model()
    changed = {name: value.copy() for name, value in base.items()}
    changed["layers.0.bias"][1] = np.nextafter(changed["layers.0.bias"][1], np.float32(0))

    # Execute
    before = codec.model_digest(codec.encode(base))
    after = codec.model_digest(codec.encode(changed))

    # Assert
    assert before != after
    assert len(before) == 32
    assert codec.digest_hex(before) == "0x" + before.hex()


def test_digest_of_same_model_is_stable_across_encodings() -> None:
    assert codec.model_digest(codec.encode(small_model())) == codec.model_digest(codec.encode(small_model()))
