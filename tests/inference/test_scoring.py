"""inference.scoring: a split scored as predict runs it; under torchrun, whole batches dealt out to the ranks."""
import pytest

from pixelseg.data.folder import SegmentationFolder
from pixelseg.data.synthetic import generate_dataset
from pixelseg.engine.distributed import DistInfo
from pixelseg.inference.predictor import Predictor
from pixelseg.inference.scoring import score_split, share_of_split
from tests.inference.helpers import tiny_checkpoint


@pytest.mark.parametrize("size, batch_size, world_size", [(9, 2, 2), (9, 4, 3), (1, 4, 2), (0, 3, 2), (12, 1, 5)])
def test_the_ranks_share_one_process_batches(size, batch_size, world_size):
    one = share_of_split(size, batch_size)
    parts = [share_of_split(size, batch_size, DistInfo(rank, rank, world_size)) for rank in range(world_size)]
    assert [list(b) for b in one] == [list(range(s, min(s + batch_size, size))) for s in range(0, size, batch_size)]
    assert sorted((list(b) for part in parts for b in part)) == [list(b) for b in one]  # the same batches, each once
    assert all(part == one[rank::world_size] for rank, part in enumerate(parts))


def test_the_shares_matrices_sum_to_the_whole_split(tmp_path):
    """Without a process group nothing is summed, so each "rank" returns its own share's matrix."""
    data = generate_dataset(tmp_path / "data", train=1, val=5, size=32, progress=False)
    dataset = SegmentationFolder(data, "val")
    predictor = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "m.pt", classes=dataset.classes), "cpu")
    whole = score_split(predictor, dataset, batch_size=2, progress=False).matrix
    parts = [score_split(predictor, dataset, batch_size=2, progress=False, world=DistInfo(rank, rank, 2)).matrix for rank in range(2)]
    assert int(parts[0].sum()) == 3 * 32 * 32 and int(parts[1].sum()) == 2 * 32 * 32  # batches {0,1},{4} and {2,3}
    assert (parts[0] + parts[1]).equal(whole)
