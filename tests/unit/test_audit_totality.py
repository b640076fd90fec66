"""An audit is total: after any sequence of calls the contract accepts, ``verify_task`` (what `fedledger audit
verify` runs), ``audit_summary``, ``history_json`` and the explorer's ``report_data`` give a verdict for every round
of every task and never raise (a crash on chain data would be a denial of the audit).

The contract's own state machine (``test_contract_state_machine``) drives the chain; here its updates and the
initial model are real content in a local store, so the audit gets past the base model and re-checks outcomes:
some updates are valid, some are not finite, and the global digests the machine commits name no content.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule
from test_contract_state_machine import RoundContract

from fedledger import codec
from fedledger.audit import audit_summary, verify_task
from fedledger.cid import compute_cid
from fedledger.explorer.data import report_data
from fedledger.history import history_json, task_history
from fedledger.store import LocalStore

VERDICTS = {"OK", "MISMATCH", "UNVERIFIED", "FAILED", "OPEN"}


def _model(value: float) -> bytes:
    return codec.encode({"w": np.full((2,), value, dtype=np.float32)})


INITIAL = _model(0.0)


class AuditedRoundContract(RoundContract):
    """The contract's state machine with real content, audited at the end of every run."""

    initial = (codec.model_digest(INITIAL), compute_cid(INITIAL))

    def fresh_update(self) -> tuple[bytes, str]:
        """Every fourth update is not finite, the others are distinct valid models."""
        if not hasattr(self, "store"):
            self.store = LocalStore(Path(tempfile.mkdtemp(prefix="fedledger-audit-fuzz-")))
            self.store.put(INITIAL)
        self.digests += 1
        data = _model(float("nan") if self.digests % 4 == 0 else float(self.digests))
        return codec.model_digest(data), self.store.put(data)

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), with_reasons=st.booleans(), seconds=st.sampled_from([100, 200]))
    def submit_then_close(self, data: st.DataObject, with_reasons: bool, seconds: int) -> None:
        """Members submit, time passes the deadline (and maybe the grace period), someone closes the round as
        failed: the late closes the audit must judge, which the parent machine's random walks seldom reach."""
        self.members_submit(data)
        self.advance_time(seconds)
        self.close_failed(data, with_reasons)

    def teardown(self) -> None:
        if not hasattr(self, "tasks"):
            return
        if not hasattr(self, "store"):
            self.fresh_update()
        for task_id in self.tasks:
            history = task_history(self.ledger, task_id)
            verdicts = verify_task(history, self.store, fetch_timeout=1.0)
            assert [v.round for v in verdicts] == [r.round for r in history.rounds]
            assert {v.verdict for v in verdicts} <= VERDICTS
            assert audit_summary(verdicts)["status"] in ("ok", "mismatch", "unverified", "empty")
            history_json(history)
            page = report_data(self.ledger, self.store, task_id)
            assert len(page["rounds"]) == len(history.rounds)


TestAuditedRoundContract = AuditedRoundContract.TestCase
TestAuditedRoundContract.settings = settings(
    max_examples=8,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    phases=[
        Phase.explicit,
        Phase.generate,
    ],  # no shrinking: a failure prints its steps, and shrinking takes minutes
    suppress_health_check=[HealthCheck.too_slow],
)
