"""Red-team regressions for the effect translation (outcomes._translate)."""

from __future__ import annotations

import pytest

import teamculture as tc


@pytest.mark.parametrize("kw", [{"delta": 0}, {"delta": 5, "change": "relative", "baseline_share": 0}])
def test_share_effect_of_no_change_is_refused(kw) -> None:
    # was "+0 percentage points of staff -> -0.00% mortality (95% CI -0.00% to -0.00%)", while
    # implied_coefficient(..., per=0) refuses the same zero change
    with pytest.raises(ValueError, match=r"`delta`.*non-zero change"):
        tc.share_effect(-0.004, se=0.001, **kw)
