import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="keep_freed_memory acts on glibc's malloc (Linux)")

# A "step" that allocates, fills and frees what a training step at 8×21×256² does (logits, their bf16
# and fp32 copies): after a few steps with kept memory every block comes from freed memory and no page
# is faulted in again; by default blocks this large are unmapped at free, so every step faults its
# ~150 MiB in anew (4 KiB a fault).
STEADY_STATE_FAULTS = """
import resource, sys, torch
from pixelseg.runtime.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
def step():
    logits = torch.ones(8, 21, 256, 256)
    half = logits.bfloat16()
    return float((half.float() * 2)[0, 0, 0, 0])
for _ in range(4):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def steady_state(mode: str, env: dict | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", STEADY_STATE_FAULTS, mode], capture_output=True, text=True, check=True, env=env)
    kept, faults = out.stdout.split()
    return kept, int(faults)


def test_a_steady_step_reuses_freed_memory_without_faulting_pages_in():
    kept, faults = steady_state("keep")
    assert kept == "True"
    assert faults < 1000, f"{faults} page faults in a step that allocates what the previous one freed"


def test_glibc_default_faults_the_pages_in_again():
    # The reason for keep_freed_memory: by default blocks this large are unmapped at free.
    kept, faults = steady_state("default")
    assert kept == "False"
    assert faults > 10000


def test_the_environment_variable_turns_it_off():
    import os

    kept, faults = steady_state("keep", env={**os.environ, "PIXELSEG_KEEP_FREED_MEMORY": "0"})
    assert kept == "False"
    assert faults > 10000
