"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster on one thread and do not stall when the CPUs are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
