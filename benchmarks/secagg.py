"""Seconds for the private-round core: a participant's quantize + mask, and the unmasking an auditor redoes.

Masking: one participant with ``--peers`` peers, for each ``--params`` size (its cost is one ChaCha20 stream per
peer plus its self stream, and one uint32 add each). Unmasking: ``--participants`` registered, 10 % and 30 % of them
dropped; its cost is |U| self streams plus |U| x |D| pairwise streams, whatever the masked words hold, so the
survivors' uploads here are one random uint32 vector shared by all (correctness is the unit tests' business).

`python benchmarks/secagg.py [--params 1700000 25000000] [--unmask-params 1700000]`; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fedledger.privacy import quantize as qz
from fedledger.privacy.masks import RoundRef, generate_keypair, mask_update, new_self_seed
from fedledger.privacy.unmask import unmask_sum

REF = RoundRef(1, 1)


def address(i: int) -> str:
    return f"0x{i + 1:040x}"


def time_masking(params: int, peers: int) -> tuple[float, float]:
    """(quantize seconds, mask seconds) for one participant's update of ``params`` values."""
    quant = qz.QuantParams(clip=1.0, scale_bits=12, weight_cap=1000, max_participants=100)
    x = np.random.default_rng(0).normal(0, 1e-3, params).astype(np.float32)
    keys = generate_keypair()
    others = {address(i + 1): generate_keypair().public for i in range(peers)}
    start = time.perf_counter()
    words = qz.encode_update(x, 500, quant)
    quantized = time.perf_counter()
    mask_update(words, address(0), keys, others, new_self_seed(), REF)
    return quantized - start, time.perf_counter() - quantized


def time_unmasking(params: int, participants: int, dropped: int) -> float:
    keys = {address(i): generate_keypair() for i in range(participants)}
    registered = {a: k.public for a, k in keys.items()}
    gone = set(list(keys)[:dropped])
    upload = np.random.default_rng(1).integers(0, 1 << 32, params, dtype=np.uint32)
    masked = {a: upload for a in keys if a not in gone}
    seeds = {a: new_self_seed() for a in masked}
    rebuilt = {a: keys[a].private for a in gone}
    start = time.perf_counter()
    unmask_sum(masked, registered, seeds, rebuilt, REF)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, nargs="+", default=[1_700_000, 25_000_000])
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--unmask-params", type=int, nargs="+", default=[1_700_000])
    parser.add_argument("--participants", type=int, default=100)
    args = parser.parse_args()
    print("| step | parameters | setting | seconds |\n|---|---:|---|---:|")
    for params in args.params:
        quantize_s, mask_s = time_masking(params, args.peers)
        print(f"| quantize + weight (participant) | {params:,} | clip, scale 2^12 | {quantize_s:.2f} |")
        print(f"| mask (participant) | {params:,} | {args.peers} peers + self | {mask_s:.2f} |")
    for params in args.unmask_params:
        for share in (0.1, 0.3):
            dropped = round(share * args.participants)
            seconds = time_unmasking(params, args.participants, dropped)
            setting = f"{args.participants - dropped} survivors, {dropped} dropped"
            print(f"| unmask (aggregator, auditor) | {params:,} | {setting} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
