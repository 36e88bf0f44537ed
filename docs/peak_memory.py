"""Run a command and report its wall and CPU seconds and the peak memory of its process tree.

    python docs/peak_memory.py reconbench run SUITE --results DIR

Prints one line: exit status, wall s, CPU s (user + system of the command and its
children), the peak over time of the summed resident set size (RSS) and of the
summed proportional set size (PSS: shared pages divided among the processes that
share them, so forked DataLoader workers are not counted twice) of the command
and all its descendants, sampled every 0.2 s, and the largest single process's
peak RSS (from the kernel's accounting, not sampled).
"""

import resource
import subprocess
import sys
import time

import psutil


def tree_memory(root: psutil.Process) -> tuple[int, int]:
    """Summed (RSS, PSS) in bytes of ``root`` and its descendants now."""
    rss = pss = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
        except psutil.Error:  # ended between the listing and the reading
            continue
        rss += info.rss
        pss += info.pss
    return rss, pss


def main(command: list[str]) -> int:
    start = time.perf_counter()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peak_rss = peak_pss = 0
    while child.poll() is None:
        try:
            rss, pss = tree_memory(root)
        except psutil.Error:
            break
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.2)
    child.wait()
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    gib = 2.0**30
    print(f"rc={child.returncode} wall_s={wall:.1f} cpu_s={usage.ru_utime + usage.ru_stime:.1f} "
          f"peak_tree_rss_gb={peak_rss / gib:.2f} peak_tree_pss_gb={peak_pss / gib:.2f} "
          f"max_single_rss_gb={usage.ru_maxrss * 1024 / gib:.2f}", flush=True)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
