"""Adaptive placement test for LangJourney (pure Python + numpy/scipy).

Step API for the web (the state is a JSON-able dict)::

    from placement import load_bank, start, next_item, record, result

See ``placement/README.md`` for the bank and CSV formats and the method.
"""

from .bank import Bank, BankError, load_bank, registered_bank
from .engine import DEFAULTS, next_item, record, result, start

__all__ = ["Bank", "BankError", "DEFAULTS", "load_bank", "next_item", "registered_bank", "record", "result", "start"]
