"""One intra-op thread for the training tests: their tensors are tiny, and on a shared 2-core
machine a second OpenMP thread mostly waits for a core (a BatchNorm of 4×4×48×48 then takes 30 ms
instead of 0.2 ms). Results do not depend on it; the suite's time does."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
