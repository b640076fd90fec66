"""The privacy spec: what a person types, the canonical string on chain, and what either refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedledger.privacy.errors import PrivacyParameterError
from fedledger.privacy.spec import PrivacySpec, parse_privacy_canonical, parse_privacy_spec


def test_secagg_alone_has_no_dp_parameters_in_its_canonical_form() -> None:
    spec = parse_privacy_spec(" SECAGG: clip=1, scale_bits=16 ")

    assert spec.canonical == "secagg:clip=1.0,scale_bits=16"
    assert not spec.dp


def test_a_dp_spec_writes_its_parameters_in_canonical_order_dim_before_budget() -> None:
    spec = parse_privacy_spec("secagg:budget=3,dim=1000,delta=1e-5,noise=1.5,scale_bits=12,clip=0.5")

    assert spec.canonical == "secagg:clip=0.5,scale_bits=12,noise=1.5,delta=1e-05,dim=1000,budget=3.0"
    assert (spec.dim, spec.budget) == (1000, 3.0)


def test_a_dp_spec_without_a_budget_leaves_it_out() -> None:
    spec = PrivacySpec(clip=1.0, scale_bits=8, noise=2.0, delta=1e-6, dim=7)

    assert spec.canonical == "secagg:clip=1.0,scale_bits=8,noise=2.0,delta=1e-06,dim=7"


@pytest.mark.parametrize(
    "text",
    [
        "secagg:clip=1,scale_bits=16,noise=1,delta=1e-5",  # dp without dim
        "secagg:clip=1,scale_bits=16,noise=1,delta=1e-5,dim=0",
        "secagg:clip=1,scale_bits=16,dim=10",  # dim without noise
        "secagg:clip=1,scale_bits=16,noise=1,delta=1e-5,dim=1.5",
        "secagg:clip=1,scale_bits=16,noise=1,delta=1e-5,dim=10,dim=10",
        "secagg:clip=1,scale_bits=16,noise=1,delta=0,dim=10",
        "secagg:clip=1,scale_bits=31",
        "secagg:clip=nan,scale_bits=3",
        "secagg:scale_bits=3",
        "plain:clip=1,scale_bits=3",
        "secagg:clip=1,scale_bits=3,colour=red",
    ],
)
def test_malformed_specs_are_one_named_error(text: str) -> None:
    with pytest.raises(PrivacyParameterError):
        parse_privacy_spec(text)


@pytest.mark.parametrize(
    "text",
    [
        "secagg:clip=1,scale_bits=16",
        "secagg:scale_bits=16,clip=1.0",
        "secagg:clip=1.0,scale_bits=16,noise=1.0,delta=1e-05,budget=2.0,dim=5",
        "SECAGG:clip=1.0,scale_bits=16",
    ],
)
def test_the_chain_accepts_only_the_canonical_form(text: str) -> None:
    with pytest.raises(PrivacyParameterError, match="not canonical"):
        parse_privacy_canonical(text)


@given(
    clip=st.floats(1e-6, 1e6),
    bits=st.integers(0, 30),
    noise=st.one_of(st.just(0.0), st.floats(1e-3, 1e3)),
    delta=st.floats(1e-12, 0.5),
    dim=st.integers(1, 10**9),
    budget=st.one_of(st.just(0.0), st.floats(1e-3, 1e3)),
)
def test_every_spec_reads_back_from_its_canonical_form(
    clip: float, bits: int, noise: float, delta: float, dim: int, budget: float
) -> None:
    spec = PrivacySpec(clip, bits, noise, delta, dim, budget) if noise else PrivacySpec(clip, bits)

    assert parse_privacy_canonical(spec.canonical) == spec
