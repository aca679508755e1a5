"""Results, the stored state, the acts that change it and the patient API: the clock is
frozen at tests.conftest.NOW for every test here."""

import pytest


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock
