"""Interleaved A/B timing: ours, peer, ours, peer, ... so that machine noise hits both alike."""
import statistics
import time
from typing import Callable, Dict


def timed(run: Callable[[], float]) -> float:
    """`run()` returns how much work it did (tokens, lines); the figure is that work per second."""
    start = time.perf_counter()
    work = run()
    return work / (time.perf_counter() - start)


def interleaved(ours: Callable[[], float], peer: Callable[[], float], pairs: int = 5) -> Dict[str, float]:
    """Medians of both figures and the median, min and max of the per-pair ratio ours / peer."""
    ours_figures, peer_figures = [], []
    for _ in range(pairs):
        ours_figures.append(timed(ours))
        peer_figures.append(timed(peer))
    ratios = [a / b for a, b in zip(ours_figures, peer_figures)]
    return {"ours": statistics.median(ours_figures), "peer": statistics.median(peer_figures),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def report(name: str, unit: str, peer: str, result: Dict[str, float]) -> str:
    line = (f"{name}: ours {result['ours']:.1f} {unit}, {peer} {result['peer']:.1f} {unit}, "
            f"ratio {result['ratio']:.2f}x (min {result['ratio_min']:.2f}, max {result['ratio_max']:.2f})")
    print(line, flush=True)
    return line
