"""The one parser of aggregation-rule specs: what a person may type, and what the chain must record."""

from __future__ import annotations

import pytest

from fedledger.exceptions import ConfigurationError
from fedledger.strategy_spec import RULE_NAMES, canonical_spec, parse_canonical, parse_spec


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("fedavg", "fedavg"),
        ("fedavg:clip=5", "fedavg:clip=5.0"),
        ("fedsgd", "fedsgd:lr=0.3"),
        ("fedsgd:lr=1e-2", "fedsgd:lr=0.01"),
        ("median", "median"),
        ("trimmed_mean", "trimmed_mean:beta=0.1"),
        ("trimmed_mean:beta=0.2", "trimmed_mean:beta=0.2"),
        ("krum", "krum:f=1"),
        ("krum:f=2", "krum:f=2"),
        ("multikrum:f=1", "multikrum:f=1"),
        ("multikrum:m=3,f=2", "multikrum:f=2,m=3"),
    ],
)
def test_parse_spec_writes_every_default_and_a_fixed_parameter_order(typed: str, canonical: str) -> None:
    # Execute
    spec = parse_spec(typed)

    # Assert
    assert spec.canonical == canonical
    assert parse_canonical(canonical) == spec
    assert canonical_spec(canonical) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FedSGD", "did you mean 'fedsgd:lr=0.3'"),
        (" fedavg", "lowercase without spaces"),
        ("fedprox", "unknown rule 'fedprox'"),
        ("fedavg:lr=1", "has no parameter 'lr'"),
        ("fedsgd:", "is not key=value"),
        ("fedsgd:lr=", "is not key=value"),
        ("fedsgd:lr=abc", "is not a number"),
        ("fedsgd:lr=-1", "lr must be > 0"),
        ("fedsgd:lr=nan", "lr must be finite"),
        ("fedsgd:lr=inf", "lr must be finite"),
        ("trimmed_mean:beta=0.5", "beta must be >= 0 and < 0.5"),
        ("krum:f=1.5", "is not an integer"),
        ("multikrum:m=0", "m must be >= 1"),
        ("fedsgd:lr=0.1,lr=0.2", "given twice"),
        ("fedavg:clip=0", "clip must be > 0"),
        ("", "it is empty"),
    ],
)
def test_parse_spec_names_what_is_wrong_and_lists_the_valid_specs(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="Valid specs: fedavg") as caught:
        parse_spec(text)
    assert message in str(caught.value)


@pytest.mark.parametrize("text", ["fedsgd", "fedsgd:lr=0.30", "fedsgd:lr=3e-1", "trimmed_mean", "krum"])
def test_parse_canonical_refuses_a_shorthand_on_chain(text: str) -> None:
    # Two readers could disagree about a non-canonical spec (e.g. about a default), so the chain holds one form.
    with pytest.raises(ConfigurationError, match="not in canonical form"):
        parse_canonical(text)


def test_only_fedsgd_sends_gradients() -> None:
    assert [name for name in RULE_NAMES if parse_spec(name).sends_gradients] == ["fedsgd"]
