"""The command line's entry point."""

from click.testing import CliRunner
from roadkd_cli.main import cli


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("data", "train", "predict", "vectorize", "evaluate", "export"):
        assert name in result.output
