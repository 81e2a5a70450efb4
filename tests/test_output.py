"""CSV rendering (kpi_engine.output.render_text): text columns written as they read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpi_engine._text import TEXT
from kpi_engine.output import render_text


def test_csv_writes_arrow_text_categorical_ids_and_gaps_as_plain_cells():
    frame = pd.DataFrame(
        {
            "referral_id": pd.Series(["r1", None, "r, 3"], dtype=TEXT),
            "child_id": pd.Series(["c1", "c2", None], dtype=TEXT).astype("category"),
            "rate": [0.5, np.nan, 1 / 3],
            "in_numerator": [True, False, True],
        }
    )
    assert render_text(frame, "csv") == (
        "referral_id,child_id,rate,in_numerator\n"
        "r1,c1,0.5,True\n"
        ",c2,,False\n"
        '"r, 3",,0.3333333333,True\n'
    )
