"""One loader for the committed oracle outputs in ``tests/reference/`` (importable from any test folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Folder of the committed R generator scripts, their outputs and the data they ran on.
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def load_json(name: str) -> Any:
    """The parsed ``tests/reference/<name>`` (a machine-written oracle output)."""
    return json.loads((REFERENCE_DIR / name).read_text())
