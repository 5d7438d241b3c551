"""Where a measurement came from (``mmpose_ext.benchmark.provenance``)."""
import subprocess

import torch

from mmpose_ext.benchmark.provenance import REPO, git_commit, provenance


def _git(*args, repo):
    return subprocess.run(['git', '-C', str(repo), *args],
                          check=True,
                          capture_output=True,
                          text=True).stdout.strip()


def test_commit_of_a_clean_and_of_a_changed_checkout(tmp_path):
    repo = tmp_path / 'repo'
    repo.mkdir()
    _git('init', '-q', repo=repo)
    (repo / 'a.txt').write_text('1\n')
    _git('add', 'a.txt', repo=repo)
    _git(
        '-c',
        'user.name=t',
        '-c',
        'user.email=t@t',
        'commit',
        '-q',
        '-m',
        'a',
        repo=repo)
    head = _git('rev-parse', 'HEAD', repo=repo)
    assert git_commit(repo) == head
    # an untracked file is not a change of the code measured
    (repo / 'new.txt').write_text('x\n')
    assert git_commit(repo) == head
    (repo / 'a.txt').write_text('2\n')
    assert git_commit(repo) == head + ' + uncommitted changes'


def test_outside_a_checkout_says_unknown(tmp_path):
    assert git_commit(tmp_path).startswith('unknown (')


def test_provenance_of_this_process():
    info = provenance()
    assert info['commit'].split()[0] == _git('rev-parse', 'HEAD', repo=REPO)
    assert info['cpu_threads'] == torch.get_num_threads()
    assert info['torch'] == torch.__version__
    assert info['device'] == ('cuda' if torch.cuda.is_available() else 'cpu')
