import pytest

from tests.reporting.dataset import build


@pytest.fixture
def data(in_alpha):
    """The hand-computed data set (see dataset.py), inside alpha's schema."""
    return build()
