"""tutorial/figures/harness_table.py: what the chapter-10..17 figure scripts share: run one
table mode of build/tutorial/harness_training (the checks linked with tutorial/solutions/)
and return its output (or its CSV columns)."""
import io, subprocess, sys

import numpy as np

HARNESS = "build/tutorial/harness_training"


def harness_output(chapter, mode, check):
    """stdout of `harness_training chapterNN --mode`; exits with what to run when it fails."""
    try:
        return subprocess.run([HARNESS, chapter, mode], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"error: {HARNESS} {chapter} {mode} failed ({e}); run bash tutorial/17-measuring/check.sh "
                 f"(or TUTORIAL_SELF_TEST=1 bash {check}) first to build it")


def harness_table(chapter, mode, check):
    """the columns of the CSV table (one header line) that the harness prints"""
    return np.loadtxt(io.StringIO(harness_output(chapter, mode, check)), delimiter=",", skiprows=1, unpack=True)
