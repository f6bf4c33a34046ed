"""keep_freed_memory: a freed 256 MB block stays in the process, ready for the next one."""
import subprocess
import sys

RESIDENT_AFTER_FREE = """
import os, sys, torch
from biogpt_fairseq.runtime.glibc_memory import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "keep" else None
page = os.sysconf("SC_PAGE_SIZE")
resident = lambda: int(open("/proc/self/statm").read().split()[1]) * page
before = resident()
block = torch.ones(64 * 2 ** 20)  # 256 MB, touched
del block
print(took, (resident() - before) // 2 ** 20)
"""


def test_freed_block_is_kept_only_when_asked():
    def run(mode):
        out = subprocess.run([sys.executable, "-c", RESIDENT_AFTER_FREE, mode], capture_output=True, text=True,
                             check=True).stdout.split()
        return out[0], int(out[1])
    took, kept_mb = run("keep")
    _, default_mb = run("default")
    assert took == "True"
    assert kept_mb >= 250 and default_mb < 50, (kept_mb, default_mb)
