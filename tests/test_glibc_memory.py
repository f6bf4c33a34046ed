"""kept_freed_memory: within it a freed 256 MB block stays in the process; after it, glibc's default."""
import subprocess
import sys

RESIDENT_AFTER_FREE = """
import os, sys, torch
from biogpt_fairseq.runtime.glibc_memory import kept_freed_memory
page = os.sysconf("SC_PAGE_SIZE")
resident = lambda: int(open("/proc/self/statm").read().split()[1]) * page

def freed_but_resident(mb=256):
    before = resident()
    block = torch.ones(mb * 2 ** 18)  # touched
    del block
    return (resident() - before) // 2 ** 20

if sys.argv[1] == "keep":
    with kept_freed_memory() as took:
        with kept_freed_memory():  # nested: the outer one restores
            pass
        inside = freed_but_resident()
    print(took, inside, freed_but_resident(512))  # larger than what was kept: allocated anew
else:
    print(None, freed_but_resident(), freed_but_resident(512))
"""


def test_freed_block_is_kept_only_within_the_scope():
    def run(mode):
        took, inside, after = subprocess.run([sys.executable, "-c", RESIDENT_AFTER_FREE, mode], capture_output=True,
                                             text=True, check=True).stdout.split()
        return took, int(inside), int(after)
    took, kept_mb, after_mb = run("keep")
    _, default_mb, _ = run("default")
    assert took == "True"
    assert kept_mb >= 250 and default_mb < 50, (kept_mb, default_mb)
    assert after_mb < 50, after_mb  # after the scope a freed block goes back to the system again
