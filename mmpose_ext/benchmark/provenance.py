"""Where a measurement came from: the code's commit and the machine's threads,
recorded beside the numbers so that a report can be re-run."""
import subprocess
from pathlib import Path
from typing import Dict

import torch

REPO = Path(__file__).resolve().parents[2]


def git_commit(repo=REPO) -> str:
    """The checkout's commit, ``'<hash> + uncommitted changes'`` when tracked
    files differ from it, or ``'unknown (…)'`` outside a git checkout (an
    installed wheel)."""

    def git(*args) -> str:
        return subprocess.run(['git', '-C', str(repo), *args],
                              check=True,
                              capture_output=True,
                              text=True,
                              timeout=30).stdout.strip()

    try:
        commit = git('rev-parse', 'HEAD')
        dirty = git('status', '--porcelain', '--untracked-files=no')
    except (OSError, subprocess.SubprocessError) as exc:
        return f'unknown ({type(exc).__name__}: not a git checkout?)'
    return commit + (' + uncommitted changes' if dirty else '')


def provenance() -> Dict[str, object]:
    """Commit, torch version, intra-op threads and device of this process."""
    return dict(
        commit=git_commit(),
        torch=torch.__version__,
        cpu_threads=torch.get_num_threads(),
        device='cuda' if torch.cuda.is_available() else 'cpu')
