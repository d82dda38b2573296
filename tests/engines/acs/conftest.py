import pytest

from . import synth


@pytest.fixture(scope="session")
def mini(tmp_path_factory):
    """The miniature WFC1A-512 CR-SPLIT association (inputs and references)."""
    return synth.make_dataset(tmp_path_factory.mktemp("acs_mini"))
