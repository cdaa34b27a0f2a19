"""The ledger's moves when another invocation moves first: what each failed condition tells it, decided in one
place. Each test sets up the race on a real (moto) table, through a table that lets a rival write slip in
between the ledger's read and its write, or applies a write and then reports it lost."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from shipment_processor.aws.metadata import MetadataTable
from shipment_processor.config import Settings
from shipment_processor.lifecycle import GUARD_PREFIX, Claim, Ledger, Skip, Target
from shipment_processor.store import Store

from .support import BUCKET, EVENT_TIME, World, as_csv, records

KEY = "incoming/acme/race.csv"
NOW = 1_772_366_400  # 2026-03-01T12:00:00Z


class Rival:
    """The metadata table, with a rival's write applied just before the ledger's next conditional update, or
    with the ledger's own update applied and its response lost."""

    def __init__(self, real: MetadataTable) -> None:
        self.real = real
        self.before_update: Callable[[], None] | None = None
        self.lose_next_update = False
        self.lose_next_put = False

    def put_if(self, item: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> Any:
        if self.lose_next_put:
            self.lose_next_put = False
            assert self.real.put_if(item, condition, values) is None
            return self.real.get_metadata(item["filename"], item["upload_timestamp"])
        return self.real.put_if(item, condition, values)

    def update_if(self, key: Mapping[str, str], update: str, condition: str, values: Mapping[str, Any], **kw: Any):
        if self.before_update is not None:
            rival, self.before_update = self.before_update, None
            rival()
        if self.lose_next_update:
            self.lose_next_update = False
            written, conflict = self.real.update_if(key, update, condition, values, **kw)
            assert written is not None, conflict
            return None, written  # applied; the re-sent request then fails its own condition
        return self.real.update_if(key, update, condition, values, **kw)

    def get_metadata(self, filename: str, upload_timestamp: str) -> Any:
        return self.real.get_metadata(filename, upload_timestamp)


@pytest.fixture
def table(world: World) -> Rival:
    return Rival(Store(Settings(), dynamodb=world.dynamodb).metadata_table)


def ledger(table: Rival, now: int = NOW) -> Ledger:
    return Ledger(table, clock=lambda: float(now))


def target(**changes: Any) -> Target:
    return Target(**{"bucket": BUCKET, "key": KEY, "event_time": EVENT_TIME, "version_id": "v1", **changes})


def claimed(table: Rival, owner: str = "req-1", expires_at: int = NOW + 60) -> Claim:
    taken = ledger(table).begin(target(), owner, expires_at, {"bucket": BUCKET})
    assert isinstance(taken, Claim)
    return taken


def test_a_hand_made_event_without_version_or_sequencer_is_identified_by_its_event_time(table: Rival) -> None:
    plain = target(version_id=None, sequencer=None)

    assert plain.identity == f"t:{EVENT_TIME}"
    assert ledger(table).upload_timestamp(plain) == EVENT_TIME
    assert table.get_metadata(KEY, f"{GUARD_PREFIX}t:{EVENT_TIME}") is None, "no version record is needed"


def test_a_version_is_found_by_its_version_id_even_when_it_shares_an_event_time(table: Rival) -> None:
    claimed(table)
    other = ledger(table).begin(target(version_id="v2"), "req-2", NOW + 60, {"bucket": BUCKET})
    assert isinstance(other, Claim) and other.upload_timestamp == f"{EVENT_TIME}#v:v2"

    found = ledger(table).find(KEY, version_id="v2")

    assert found is not None and found["upload_timestamp"] == f"{EVENT_TIME}#v:v2"
    assert ledger(table).find(KEY) is None
    assert ledger(table).find(KEY, version_id="never-uploaded") is None


def test_a_continuation_of_an_attempt_that_a_reprocess_replaced_is_superseded(table: Rival) -> None:
    claim = claimed(table)
    table.real.update_if(claim.key, "SET #attempt = :two", "attribute_exists(filename)", {":two": 2})
    continuation = {"key": KEY, "upload_timestamp": EVENT_TIME, "attempt": 1, "segment": 2, "handoff_token": "h"}

    taken = ledger(table).resume(continuation, "req-c2", NOW + 60)

    assert isinstance(taken, Skip) and taken.status == "SUPERSEDED"


def test_reprocessing_an_item_that_does_not_exist_changes_nothing(table: Rival) -> None:
    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-9", NOW + 60)

    assert isinstance(taken, Skip) and taken.status == "SUPERSEDED"


def _finished(table: Rival) -> Claim:
    claim = claimed(table)
    assert ledger(table).finish(claim, {"processing_status": "SUCCESS", "records_total": 1})
    return claim


def test_a_reprocess_that_loses_the_race_to_another_reprocess_is_in_progress(table: Rival) -> None:
    _finished(table)
    rival = ledger(table)
    table.before_update = lambda: rival.reprocess(KEY, EVENT_TIME, "req-rival", NOW + 60) and None

    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-9", NOW + 60)

    assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"
    assert table.get_metadata(KEY, EVENT_TIME)["claim_owner"] == "req-rival"  # type: ignore[index]


def test_a_reprocess_whose_response_was_lost_recognises_its_own_claim(table: Rival) -> None:
    _finished(table)
    table.lose_next_update = True

    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-9", NOW + 60)

    assert isinstance(taken, Claim) and taken.attempt == 2


def test_a_take_over_that_another_invocation_wins_first_is_in_progress(table: Rival) -> None:
    claimed(table, expires_at=NOW - 1)  # a stale claim: anyone may take it over
    rival = ledger(table)
    table.before_update = lambda: rival.begin(target(), "req-rival", NOW + 60, {}) and None

    taken = ledger(table).begin(target(), "req-2", NOW + 60, {})

    assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"


def test_a_take_over_whose_response_was_lost_recognises_its_own_claim(table: Rival) -> None:
    claimed(table, expires_at=NOW - 1)
    table.lose_next_update = True

    taken = ledger(table).begin(target(), "req-2", NOW + 60, {})

    assert isinstance(taken, Claim) and taken.takeover is not None
    assert taken.item["interrupted_invocations"] == 1


def test_a_checkpoint_after_the_claim_was_taken_over_stops_the_invocation(table: Rival) -> None:
    claim = claimed(table, expires_at=NOW - 1)
    assert isinstance(ledger(table).begin(target(), "req-2", NOW + 60, {}), Claim)

    assert ledger(table).checkpoint(claim, {"accepted": 1}, NOW + 60) is None


def test_a_final_write_that_finds_its_own_result_in_place_is_success(table: Rival) -> None:
    claim = claimed(table)
    table.lose_next_put = True  # the put is applied; what the retry finds is the final item with our token

    assert ledger(table).finish(claim, {"processing_status": "PARTIAL", "records_total": 2})
    assert claim.item["processing_status"] == "PARTIAL"


def test_a_final_write_after_a_take_over_is_refused(table: Rival) -> None:
    claim = claimed(table, expires_at=NOW - 1)
    assert isinstance(ledger(table).begin(target(), "req-2", NOW + 60, {}), Claim)

    assert not ledger(table).finish(claim, {"processing_status": "SUCCESS"})


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"claim_token": None}, None),
        ({"claim_expires_at": NOW + 60, "claim_owner": "someone"}, None),
        ({"claim_expires_at": NOW - 1, "claim_owner": "someone", "handoff_token": "h"}, "never started"),
        ({"claim_expires_at": NOW - 1, "claim_owner": "someone"}, "stopped without finishing"),
        ({"claim_expires_at": NOW + 60, "claim_owner": "req-2"}, "earlier try of this invocation"),
        ({"claim_expires_at": 0, "last_error": "boom"}, "retrying after an error: boom"),
    ],
)
def test_why_a_claim_may_be_taken_over(table: Rival, state: dict[str, Any], why: str | None) -> None:
    claim = claimed(table)
    names = [name for name, value in state.items() if value is not None]
    removed = [name for name, value in state.items() if value is None]
    update = ("SET " + ", ".join(f"#{n} = :{n}" for n in names) if names else "") + (
        " REMOVE " + ", ".join(f"#{n}" for n in removed) if removed else ""
    )
    table.real.update_if(claim.key, update.strip(), "attribute_exists(filename)",
                          {f":{n}": state[n] for n in names})  # fmt: skip

    taken = ledger(table).begin(target(), "req-2", NOW + 60, {})

    if why is None:
        assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"
    else:
        assert isinstance(taken, Claim) and taken.takeover is not None and why in taken.takeover


def test_a_version_whose_version_record_is_missing_is_still_recognised_by_its_item(world: World, table: Rival) -> None:
    result = world.process(KEY, as_csv(records(2)))
    world.dynamodb.delete_item(  # e.g. removed by hand
        TableName="shipment-metadata-dev",
        Key={"filename": {"S": KEY}, "upload_timestamp": {"S": f"{GUARD_PREFIX}v:{result.item['version_id']}"}},
    )

    again = ledger(table).begin(target(version_id=result.item["version_id"]), "req-2", NOW + 60, {})

    assert isinstance(again, Skip) and again.status == "DUPLICATE"


class Meddling(Rival):
    """A table where, before every conditional update of the ledger, another invocation changes the claim token
    (and leaves the item as takeable as it was): every update the ledger tries fails its condition."""

    def update_if(self, key: Mapping[str, str], update: str, condition: str, values: Mapping[str, Any], **kw: Any):
        self.real.update_if(key, "SET #claim_token = :other", "attribute_exists(filename)",
                             {":other": f"rival-{values.get(':token')}"})  # fmt: skip
        return self.real.update_if(key, update, condition, values, **kw)


@pytest.fixture
def meddling(world: World) -> Meddling:
    return Meddling(Store(Settings(), dynamodb=world.dynamodb).metadata_table)


def test_a_take_over_that_loses_three_races_in_a_row_answers_in_progress(meddling: Meddling) -> None:
    claimed(meddling, expires_at=NOW - 1)

    taken = ledger(meddling).begin(target(), "req-2", NOW + 60, {})

    assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"
    assert "keep taking this item over" in taken.reason


def test_a_reprocess_that_loses_three_races_in_a_row_answers_in_progress(meddling: Meddling) -> None:
    _finished(meddling)

    taken = ledger(meddling).reprocess(KEY, EVENT_TIME, "req-9", NOW + 60)

    assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"
    assert "keep changing this item" in taken.reason


def test_two_versions_holding_both_keys_of_an_event_time_stop_the_claim_with_a_reason(table: Rival) -> None:
    for upload_timestamp in (EVENT_TIME, f"{EVENT_TIME}#v:v1"):  # only a hand-edited table can hold this
        table.real.put_if({"filename": KEY, "upload_timestamp": upload_timestamp, "identity": "v:other"},
                           "attribute_not_exists(filename)", {})  # fmt: skip

    with pytest.raises(RuntimeError, match="two versions claim"):
        ledger(table).begin(target(), "req-2", NOW + 60, {})


def _stuck(table: Rival, *, expires_at: int, owner: str = "req-1") -> Claim:
    """A version left PROCESSING at attempt 1 with a checkpoint (its chain stopped)."""
    claim = claimed(table, owner=owner, expires_at=expires_at)
    assert ledger(table).checkpoint(claim, {"accepted": 64}, expires_at) is not None
    return claim


def test_reprocessing_a_stuck_version_resumes_its_attempt_from_the_checkpoint_and_says_who(table: Rival) -> None:
    _stuck(table, expires_at=NOW - 1)

    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-ops", NOW + 60)

    assert isinstance(taken, Claim) and taken.attempt == 1 and taken.checkpoint == {"accepted": 64}
    assert taken.takeover is not None and taken.takeover.startswith("an operator resumed it")
    assert taken.item["last_interruption"] == taken.takeover and taken.item["interrupted_invocations"] == 1


def test_restarting_a_stuck_version_is_a_new_attempt_that_records_the_abandoned_one(table: Rival) -> None:
    _stuck(table, expires_at=NOW - 1)

    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-ops", NOW + 60, restart=True)

    assert isinstance(taken, Claim) and taken.attempt == 2 and taken.checkpoint is None
    (earlier,) = taken.item["previous_attempts"]
    assert earlier["attempt"] == 1 and earlier["processing_status"] == "PROCESSING"
    assert earlier["ended"].startswith("abandoned while PROCESSING")


@pytest.mark.parametrize("restart", [False, True], ids=["resume", "restart"])
def test_a_stuck_version_whose_claim_is_live_is_left_to_its_holder(table: Rival, restart: bool) -> None:
    _stuck(table, expires_at=NOW + 60)

    taken = ledger(table).reprocess(KEY, EVENT_TIME, "req-ops", NOW + 60, restart=restart)

    assert isinstance(taken, Skip) and taken.status == "IN_PROGRESS"
    assert table.get_metadata(KEY, EVENT_TIME)["attempt"] == 1  # type: ignore[index]


def _pending(table: Rival) -> dict[str, Any]:
    """A final item whose outcome was never published, its holder gone."""
    claim = claimed(table, expires_at=NOW - 1)
    assert ledger(table).finish(claim, {"processing_status": "SUCCESS", "records_total": 1})
    return claim.item


def test_a_pending_outcome_taken_by_another_invocation_first_is_left_to_it(table: Rival) -> None:
    item = _pending(table)
    rival = ledger(table)
    table.before_update = lambda: rival.take_outcome(item, "req-rival", NOW + 60) and None

    assert ledger(table).take_outcome(item, "req-2", NOW + 60) is None
    assert table.get_metadata(KEY, EVENT_TIME)["claim_owner"] == "req-rival"  # type: ignore[index]


def test_a_pending_outcome_taken_with_a_lost_response_is_recognised(table: Rival) -> None:
    item = _pending(table)
    table.lose_next_update = True

    taken = ledger(table).take_outcome(item, "req-2", NOW + 60)

    assert taken is not None and taken["claim_owner"] == "req-2"
