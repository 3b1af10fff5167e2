"""Model tests run many small operations: one thread each. Two threads would mostly wait for each
other, and `make test` already runs two test workers on the two cores."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
