"""Item 5: the change accuracy published in the model card is what the whole chain really does.

Runs the bundled model on the held-out 500 m tile of both demo vintages, compares the runs and
scores the detected new/removed objects against the ground truth's recorded change.
"""

from __future__ import annotations

import json

import pytest

from idf_hr_plugin.demo.change_accuracy import MODEL, held_out_change_accuracy


def test_card_change_accuracy_is_reproduced_by_the_chain(demo_region):
    card = json.loads(MODEL.with_suffix(".json").read_text(encoding="utf-8"))["change_accuracy"]
    measured = held_out_change_accuracy(demo_region)
    for status in ("new", "removed"):
        assert set(measured[status]) == set(card[status])
        for cls, published in card[status].items():
            got = measured[status][cls]
            for key in ("precision", "recall", "f1"):
                if published[key] is None:
                    assert got[key] is None, (status, cls, key)
                else:
                    assert got[key] == pytest.approx(published[key], abs=0.05), (status, cls, key)
    # the honest part: cars dominate the true changes, so the card says so and the chain leaves them out
    cars = card["new"]["car"]["true"] + card["removed"]["car"]["true"]
    others = card["new"]["all_but_car"]["true"] + card["removed"]["all_but_car"]["true"]
    assert cars > others and "car" in card["cars"].lower()
