"""Run a module as `python -m MODULE ARGS...` does, then print its peak device memory and wall time.

    python bench/gpu/with_peak_memory.py fairseq_cli.hydra_train --config-dir hydra_configs ...

fairseq's logs give tokens per second (`wps`) and `gb_free`, not the most the run held: this prints
one line `PEAK_MEMORY {json}` at the end (also after a failure), with CUDA's peak allocated and
reserved bytes (0 on the CPU) and the process's peak resident memory, for bench/gpu/summarize.py.
"""
import json
import resource
import runpy
import sys
import time


def main() -> None:
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    start = time.perf_counter()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        import torch

        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        figures = {
            "module": module,
            "seconds": round(time.perf_counter() - start, 2),
            "cuda_max_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else 0.0,
            "cuda_max_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 3) if cuda else 0.0,
            "max_resident_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        }
        print("PEAK_MEMORY " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
