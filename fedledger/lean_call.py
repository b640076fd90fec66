"""Contract view calls and node-signed transactions sent straight to the provider, decoded as web3 decodes them.

web3's contract layer binds arguments, validates, formats and runs every middleware on each call: for a view that
the embedded EVM answers at once, that machinery is many times the EVM's own time (BENCHMARKS.md, "Issue 19"),
and a round makes hundreds of views (every participant's pre-checks, the aggregator's and the auditor's reads).
Here the calldata is the selector and ``eth_abi``'s encoding of the arguments, the request goes to the provider as
plain JSON-RPC, and the answer is decoded with the same codec and normalizers web3 uses, so callers see the very
values ``fn.call()`` returns (checksummed addresses, tuples for structs, a bare value for one output).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi.abi import encode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3.exceptions import BadFunctionCallOutput, Web3RPCError
from web3.types import RPCEndpoint, RPCResponse


@cache
def _types(
    signature: str, inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> tuple[bytes, list[str], list[str]]:
    """The selector (a keccak, remembered per function) and the input and output ABI types of one function."""
    return keccak(text=signature)[:4], list(inputs), list(outputs)


def calldata(fn: Any) -> tuple[bytes, list[str]]:
    """The call's data (selector + encoded arguments) and its output types, for a web3 ``ContractFunction``."""
    inputs = tuple(collapse_if_tuple(dict(param)) for param in fn.abi["inputs"])
    outputs = tuple(collapse_if_tuple(dict(param)) for param in fn.abi.get("outputs", ()))
    selector, input_types, output_types = _types(fn.signature, inputs, outputs)
    return selector + encode(input_types, list(fn.args)), output_types


def view(w3: Web3, fn: Any, sender: str, block: str = "latest") -> Any:
    """``fn.call({"from": sender})`` without web3's per-call machinery.

    Raises what ``fn.call`` raises for a revert (``ContractLogicError`` / ``ContractCustomError`` with the revert
    data, built by web3's own error formatter from the node's answer), ``Web3RPCError`` for any other error answer,
    and the transport's own exceptions (``requests`` / ``OSError``) when the node does not answer.
    """
    if fn.kwargs:  # fedledger passes arguments by position; anything else takes web3's own path
        return fn.call({"from": sender}, block)
    data, output_types = calldata(fn)
    result = _request(w3, "eth_call", [{"from": sender, "to": fn.address, "data": "0x" + data.hex()}, block])
    raw = bytes.fromhex(str(result)[2:])
    if not raw and output_types:
        raise BadFunctionCallOutput(
            f"{fn.fn_name} returned nothing at {fn.address}: is the contract deployed there?"
        )
    decoded = w3.codec.decode(output_types, raw)
    normalized = [normalize(type_str, value) for type_str, value in zip(output_types, decoded, strict=True)]
    return normalized[0] if len(normalized) == 1 else normalized


def normalize(type_str: str, value: Any) -> Any:
    """A decoded value as web3 returns it: addresses checksummed, arrays as lists, tuples as tuples.

    web3's own ``map_abi_data`` does the same through a stack of generic formatters, which was most of a view's
    time.
    """
    return _normalize(_parsed(type_str), value)


@cache
def _parsed(type_str: str) -> ABIType:
    parsed: ABIType = parse(type_str)
    return parsed


def _normalize(abi_type: ABIType, value: Any) -> Any:
    if abi_type.is_array:
        return [_normalize(abi_type.item_type, item) for item in value]
    if isinstance(abi_type, TupleType):
        return tuple(
            _normalize(component, item) for component, item in zip(abi_type.components, value, strict=True)
        )
    if isinstance(abi_type, BasicType) and abi_type.base == "address":
        return to_checksum_address(value)
    return value


def transact(w3: Web3, fn: Any, sender: str, gas: int | None = None) -> HexBytes:
    """``fn.transact({"from": sender[, "gas": gas]})`` from an account the node holds, without web3's machinery.

    Without ``gas`` the node estimates the limit itself, as part of ``eth_sendTransaction`` (one request, not
    web3's estimate then send): only dev nodes hold accounts, and they mine each transaction on the state it was
    estimated on. A revert found while estimating raises web3's own exceptions (as ``fn.transact`` does), other
    error answers ``Web3RPCError``. Returns the transaction hash.
    """
    if fn.kwargs:
        params: dict[str, Any] = {"from": sender} if gas is None else {"from": sender, "gas": gas}
        return HexBytes(fn.transact(params))
    data, _ = calldata(fn)
    tx: dict[str, Any] = {"from": sender, "to": fn.address, "data": "0x" + data.hex()}
    if gas is not None:
        tx["gas"] = hex(gas)
    return HexBytes(str(_request(w3, "eth_sendTransaction", [tx])))


def _request(w3: Web3, method: str, params: list[Any]) -> Any:
    """One JSON-RPC request to the provider: its result, or web3's exception for a revert or an error answer."""
    answer: RPCResponse = w3.provider.make_request(RPCEndpoint(method), params)
    if answer.get("error") is not None:
        raise_contract_logic_error_on_revert(answer)
        raise Web3RPCError(str(answer["error"]), rpc_response=answer)
    return answer["result"]
