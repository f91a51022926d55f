"""Tests of the Django-free ``inference`` package: one thread, tiny phantoms and networks."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    # the machine is shared: keep every test on one core
    torch.set_num_threads(1)
