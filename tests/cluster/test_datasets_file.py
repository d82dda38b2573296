"""DATASETS.txt parsing and command-line errors (CMDLINE_ERROR before any work)."""

from __future__ import annotations

import pytest

from caldp.cli.batch import main
from caldp.cluster.batch import DatasetsFileError, parse_datasets, read_datasets

from .conftest import messages, run_cli


def test_comments_blanks_case_and_duplicates(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("# reprocessing list\n\nj8cb010b0\n  IABC01010   # WFC3 association\nj8cb010b0\n\t\nldxa01abq\n")
    assert read_datasets(f) == ["j8cb010b0", "iabc01010", "ldxa01abq"]


def test_every_invalid_line_reported_with_its_number():
    text = "j8cb010b0\nnot-a-name\n# ok\nu2ab0101t\nj8cb010b\n"
    with pytest.raises(DatasetsFileError) as err:
        parse_datasets(text)
    lines = [n for n, _, _ in err.value.problems]
    assert lines == [2, 4, 5]
    reasons = dict((n, r) for n, _, r in err.value.problems)
    assert "WFPC2" in reasons[4] and "ipppssoot" in reasons[5]


def test_cli_invalid_list_is_a_command_line_error(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("j8cb010b0\nbad name here\n")
    out = tmp_path / "out"
    proc = run_cli(f, "--output", f"file:{out}", "--config", "caldp-config-local", env={"CRDS_PATH": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "line 2: 'bad name here'" in proc.stderr
    assert proc.stderr.rstrip().endswith("EXIT - CMDLINE_ERROR[2]: The program command line invocation was incorrect.")
    assert not messages(out), "nothing is submitted when the list is invalid"


@pytest.mark.parametrize(
    "args, text",
    [
        (["--cluster", "yarn"], "unknown cluster 'yarn'"),
        (["--resume", "--force"], "not allowed with argument"),
        (["--config", "caldp-config-nowhere"], "unknown config"),
        (["--input", "ftp://x"], "ftp"),
    ],
)
def test_cli_bad_options(tmp_path, capsys, args, text):
    f = tmp_path / "list.txt"
    f.write_text("j8cb010b0\n")
    try:
        code = main([str(f), "--output", f"file:{tmp_path / 'out'}", "--no-progress", *args])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == 2
    assert text in capsys.readouterr().err
    assert not messages(tmp_path / "out")


def test_cli_missing_or_empty_list(tmp_path, capsys):
    assert main([str(tmp_path / "nope.txt")]) == 2
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert main([str(tmp_path / "empty.txt")]) == 2
    assert "no datasets" in capsys.readouterr().err
