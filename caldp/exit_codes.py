"""CALDP process exit codes: a contract with the batch system (CALCLOUD).

The numbers are CALDP's; keep them. Any failure without specific handling maps to
GENERIC_ERROR.

>>> explain(ExitCode.SUCCESS)
'EXIT - SUCCESS[0]: Processing completed successfully.'
>>> explain("STAGE1_ERROR")
"EXIT - STAGE1_ERROR[23]: An error occurred in this instrument's stage1 processing step, e.g. calxxx."
>>> explain(999)
'EXIT - unhandled exit code: 999'
>>> is_memory_error(ExitCode.CALDP_MEMORY_ERROR), is_memory_error("BESTREFS_ERROR")
(True, False)
"""

from enum import IntEnum


class ExitCode(IntEnum):
    SUCCESS = 0
    GENERIC_ERROR = 1
    CMDLINE_ERROR = 2
    INPUT_TAR_FILE_ERROR = 21
    ASTROQUERY_ERROR = 22
    STAGE1_ERROR = 23
    STAGE2_ERROR = 24
    S3_UPLOAD_ERROR = 25
    S3_DOWNLOAD_ERROR = 26
    BESTREFS_ERROR = 27
    CREATE_PREVIEWS_ERROR = 28
    SUBPROCESS_MEMORY_ERROR = 31
    CALDP_MEMORY_ERROR = 32
    CONTAINER_MEMORY_ERROR = 33
    OS_MEMORY_ERROR = 34

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    ExitCode.SUCCESS: "Processing completed successfully.",
    ExitCode.GENERIC_ERROR: "An error with no specific CALDP handling occurred somewhere.",
    ExitCode.CMDLINE_ERROR: "The program command line invocation was incorrect.",
    ExitCode.INPUT_TAR_FILE_ERROR: "An error occurred locating or untarring the inputs.",
    ExitCode.ASTROQUERY_ERROR: "An error occurred downloading astroquery: inputs.",
    ExitCode.STAGE1_ERROR: "An error occurred in this instrument's stage1 processing step, e.g. calxxx.",
    ExitCode.STAGE2_ERROR: "An error occurred in this instrument's stage2 processing step, e.g. astrodrizzle.",
    ExitCode.S3_UPLOAD_ERROR: "An error occurred uploading outputs to S3.",
    ExitCode.S3_DOWNLOAD_ERROR: "An error occurred downloading inputs from S3.",
    ExitCode.BESTREFS_ERROR: "An error occurred computing or downloading CRDS reference files.",
    ExitCode.CREATE_PREVIEWS_ERROR: "An error occurred creating preview files for processed data.",
    ExitCode.SUBPROCESS_MEMORY_ERROR: "A Python MemoryError was detected in a calibration subprocess.",
    ExitCode.CALDP_MEMORY_ERROR: "CALDP generated a Python MemoryError during processing or preview creation.",
    ExitCode.CONTAINER_MEMORY_ERROR: "The container or worker was killed for exceeding its memory limit.",
    ExitCode.OS_MEMORY_ERROR: "Python raised OSError(Cannot allocate memory...), possibly a fork failure.",
}

MEMORY_ERRORS = frozenset(
    {
        ExitCode.SUBPROCESS_MEMORY_ERROR,
        ExitCode.CALDP_MEMORY_ERROR,
        ExitCode.CONTAINER_MEMORY_ERROR,
        ExitCode.OS_MEMORY_ERROR,
    }
)


def to_exit_code(code: "int | str | ExitCode") -> ExitCode:
    """Return the ExitCode for a name or number; ValueError/KeyError if unknown."""
    if isinstance(code, str) and not code.isdigit():
        return ExitCode[code]
    return ExitCode(int(code))


def explain(code: "int | str | ExitCode") -> str:
    """The one-line text CALDP's logs end with: ``EXIT - NAME[code]: explanation``."""
    try:
        ec = to_exit_code(code)
    except (KeyError, ValueError):
        return f"EXIT - unhandled exit code: {code}"
    return f"EXIT - {ec.name}[{int(ec)}]: {ec.explanation}"


def is_memory_error(code: "int | str | ExitCode") -> bool:
    """True if `code` names one of the memory-failure exit codes."""
    try:
        return to_exit_code(code) in MEMORY_ERRORS
    except (KeyError, ValueError):
        return False
