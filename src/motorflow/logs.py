"""Logging for Snakemake adapters: everything to the rule's log, known errors as one line."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def rule_logging(log_path: str) -> Iterator[logging.Logger]:
    """Send INFO logging to ``log_path``; report ValueErrors (bad input) without a traceback.

    motorflow raises ValueError subclasses whose message names the file and the reason; a
    traceback would bury that message, so it is logged and printed as a single line.
    """
    logging.basicConfig(
        filename=log_path,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    log = logging.getLogger("motorflow")
    try:
        yield log
    except ValueError as err:
        log.error("%s", err)
        print(f"motorflow error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
