"""The one exception whose message a user sees.

Library code raises ``GankitError("what is wrong - how to fix it")`` for user
mistakes (bad input, missing files, incompatible options). ``gankit.cli.main``
prints the message on one line and exits non-zero; everything else is a bug and
keeps its traceback.
"""


class GankitError(Exception):
    """A user-facing error: one line saying what is wrong and how to fix it."""

    exit_code = 2
    every_rank = False  # under torchrun: shown by every process, not only rank 0
