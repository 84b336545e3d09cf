"""`python -m harness [pytest options]`: measure every claim and print the verdict count.

This is what `make run` calls. It runs `pytest claims/` with the options
given (default subject and budget otherwise), then prints the report's path
and a one-line count. A claim that does not hold is a result, so the exit
status is 0 whenever every claim reached a verdict; it is 1 when a claim
could not be measured and pytest's own status for usage or internal errors.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from harness.verdicts import DOES_NOT_HOLD, ERROR, HOLDS, NOT_EVALUABLE

CLAIMS_FOLDER = Path(__file__).resolve().parent.parent / "claims"
logger = logging.getLogger("harness")


class _RunCollector:
    """Keeps the finished run's results after pytest returns."""

    def __init__(self):
        self.run = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Imported here, once pytest has loaded the plugin with assertion rewriting.
        from harness.plugin import RUN_KEY

        self.run = session.config.stash.get(RUN_KEY, None)


def main(arguments: list[str]) -> int:
    """Run the claim tests with `arguments` and return the process exit status."""
    collector = _RunCollector()
    # -s lets the progress bars through; log_cli streams the harness's log lines live.
    pytest_arguments = [str(CLAIMS_FOLDER), "-p", "no:cacheprovider", "-q", "-s", "-o", "log_cli=true", "--log-cli-level=INFO", *arguments]
    status = pytest.main(pytest_arguments, plugins=[collector])

    # pytest removes its log handlers when it returns; these last lines need their own.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = collector.run
    if run is None or run.results is None:
        logger.error("no claim reached a verdict (pytest exit status %d)", int(status))
        return int(status) or 1

    summary = run.results["summary"]
    logger.info("report: %s", run.report_path)
    logger.info(
        "%d claims hold, %d do not hold, %d could not be measured%s",
        summary[HOLDS],
        summary[DOES_NOT_HOLD],
        summary[ERROR],
        f", {summary[NOT_EVALUABLE]} not evaluable" if summary[NOT_EVALUABLE] else "",
    )

    if summary[ERROR]:
        return 1
    if status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return 0
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
