"""Stored strings, items and keys within AWS's limits."""

from __future__ import annotations

from shipment_processor import bounds


def test_item_size_counts_every_kind_of_value() -> None:
    assert bounds.item_size({"a": "xy", "b": True, "c": 5, "d": ["z"], "e": {"f": None, "g": "h"}, "i": None}) == (
        1 + 2 + 1 + 1 + 1 + 21 + 1 + (3 + 1 + 1) + 1 + (3 + 1 + 1 + 1)
    )


def test_an_item_over_budget_loses_samples_then_its_message_is_cut() -> None:
    item = {"error_samples": ["s" * 500] * 20, "error_message": "m" * 4000}

    fitted = bounds.fit_item(item, budget=3000)

    assert "error_samples" not in fitted or fitted["error_samples"] is None
    assert len(fitted["error_message"].encode()) <= 256 and fitted["error_message"].endswith("…")


def test_a_long_or_non_ascii_version_tag_is_hashed_so_the_key_still_fits() -> None:
    key = bounds.rejects_key("rejected/", "incoming/a/x.csv", "v" * 500)

    assert key.startswith("rejected/incoming/a/x.csv.") and len(key) < 120
    assert bounds.version_tag(None, "s:0055AED6") != bounds.version_tag(None, "s:0055AED7")
