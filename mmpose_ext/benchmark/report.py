"""The benchmark's outputs: ``results.json`` (every row of every seed, learning
curves included), ``results.md`` (an accuracy table and a cost table, one line
per method, the mean over seeds with the spread between them, and the command
that produced them) and two PNG plots drawn with matplotlib's Agg backend:

the learning curves (held-out PCK@0.1 against iterations, every method and
seed) and held-out PCK@0.1 against CPU latency.
"""
import json
import math
import re
from pathlib import Path
from typing import Dict, List

ACCURACY = (  # (key, header, format)
    ('synthetic/AP', 'AP', '{:.3f}'), ('synthetic/AP .5', 'AP50', '{:.3f}'),
    ('synthetic/PCK@0.1', 'PCK@0.1',
     '{:.3f}'), ('synthetic/PCK@0.2', 'PCK@0.2',
                 '{:.3f}'), ('synthetic/err/box', 'err/box', '{:.3f}'),
    ('synthetic/LR-swap', 'L/R swap',
     '{:.2f}'), ('real/PCK@0.1', 'real PCK@0.1',
                 '{:.3f}'), ('real/PCK@0.2', 'real PCK@0.2', '{:.3f}'),
    ('real/err/box', 'real err/box',
     '{:.3f}'), ('real/LR-swap', 'real L/R swap',
                 '{:.2f}'), ('synthetic/recall@OKS.5', 'recall@OKS.5',
                             '{:.3f}'), ('real/AP', 'real AP', '{:.3f}'),
    ('shifted/PCK@0.1', 'shifted PCK@0.1', '{:.3f}'), ('shifted/AP',
                                                       'shifted AP', '{:.3f}'))
COST = (('head', 'head', '{}'), ('params_M', 'params (M)',
                                 '{:.2f}'), ('gflops', 'GFLOPs', '{:.2f}'),
        ('iters', 'iters', '{:.0f}'), ('train_s', 'train (s)', '{:.0f}'),
        ('s_per_iter', 's / iter', '{:.2f}'), ('test_s', 'test (s)', '{:.0f}'),
        ('latency_b1_ms', 'CPU ms (b=1)',
         '{:.1f}'), ('latency_b32_ms', 'CPU ms (b=32)', '{:.0f}'))
#: SCAIFeedbackMetric's results (a config's ``benchmark.metrics``), per test
#: set: the distal (corrected) keypoints of SCAI and of the frozen model
SCAI = tuple(
    (f'{split}/{key}', f'{short}{header}', fmt)
    for split, short in (('synthetic', ''), ('shifted', 'shifted '))
    for key, header, fmt in (('distal PCK@0.1', 'distal PCK@0.1', '{:.3f}'),
                             ('frozen distal PCK@0.1', 'frozen distal PCK@0.1',
                              '{:.3f}'), ('distal err/box', 'distal err/box',
                                          '{:.4f}'),
                             ('frozen distal err/box', 'frozen err/box',
                              '{:.4f}'), ('r(feedback, error)',
                                          'r(feedback, error)', '{:.2f}'),
                             ('kept', 'kept', '{:.2f}'), ('adapted', 'adapted',
                                                          '{:.2f}'),
                             ('better', 'better', '{:.0f}'), ('worse', 'worse',
                                                              '{:.0f}')))


def _value(row: dict, key: str):
    if key == 's_per_iter':
        return row['train_s'] / row['iters'] if row.get('iters') else None
    value = row.get(key)
    return None if isinstance(value, float) and math.isnan(value) else value


def _groups(results: List[dict]) -> Dict[str, List[dict]]:
    """Rows by name, in first-seen order (one row per seed)."""
    groups: Dict[str, List[dict]] = {}
    for row in results:
        groups.setdefault(row['name'], []).append(row)
    return groups


def _cell(rows: List[dict], key: str, fmt: str) -> str:
    """The mean over the rows (seeds) that have ``key``; with several, ``± half
    the range``."""
    values = [_value(r, key) for r in rows if not r.get('error')]
    values = [v for v in values if v is not None]
    if not values:
        return '—'
    if not all(isinstance(v, (int, float)) for v in values):
        return fmt.format(values[0])
    mean = sum(values) / len(values)
    text = fmt.format(mean)
    if len(values) > 1:
        text += ' ±' + fmt.format((max(values) - min(values)) / 2)
    return text


def _table(groups: Dict[str, List[dict]], columns) -> List[str]:
    keys = [
        c for c in columns if any(
            _value(r, c[0]) is not None for rows in groups.values()
            for r in rows)
    ]
    lines = [
        '| method | ' + ' | '.join(c[1] for c in keys) + ' |',
        '|' + '---|' * (len(keys) + 1)
    ]
    for name, rows in groups.items():
        failed = [r for r in rows if r.get('error')]
        if failed and len(failed) == len(rows):
            lines.append(
                f'| {name} | failed: '
                f"{failed[0]['error'].strip().splitlines()[-1][:120]} |")
            continue
        note = (f' ({len(failed)} of {len(rows)} seeds failed)'
                if failed else '')
        lines.append(f'| {name}{note} | ' +
                     ' | '.join(_cell(rows, k, f) for k, _, f in keys) + ' |')
    return lines


def markdown(results: List[dict], meta: Dict) -> str:
    groups = _groups(results)
    seeds = meta.get('seeds', [meta.get('seed')])
    trained = {
        n: rows
        for n, rows in groups.items() if any('iters' in r for r in rows)
    }
    lines = [
        f"Budget: {meta['budget']} per method; training seeds {seeds}; "
        f"device {meta['device']}; "
        f"CPU threads {meta['cpu_threads']}; data: {meta['data']}.", '',
        f"Command: `{meta['command']}`", '',
        '**Accuracy** (mean over the seeds ± half their range):', ''
    ]
    lines += _table(groups, ACCURACY)
    if trained:
        lines += ['', '**Cost**:', '']
        lines += _table(trained, COST)
    scai = {
        n: rows
        for n, rows in groups.items() if any(
            _value(r, SCAI[0][0]) is not None for r in rows)
    }
    if scai:
        lines += [
            '', '**SCAI: the distal keypoints it corrects** (SCAI\'s output '
            'against the frozen model\'s own keypoints on the same people; r: '
            'Pearson\'s r between the feedback error of the frozen distal '
            'heatmap and its true error; kept: share of distal heatmaps '
            'replaced; adapted: share of people adapted; better / worse: '
            'labelled distal keypoints moved closer / further):', ''
        ]
        lines += _table(scai, SCAI)
    lines += [
        '',
        'Held-out: generated people never trained on (ground-truth boxes). '
        'real: the 12 labelled people '
        'of the real COCO images in the test fixtures. shifted: held-out '
        'generated people under another '
        'camera regime (dim, grey, blue, blurry), when generated. AP: COCO '
        'keypoint AP (MMPose\'s '
        'CocoMetric). PCK@t: fraction of visible keypoints within t × '
        'max(box w, h) (MMPose\'s PCK); '
        'err/box: mean error / max(box w, h); L/R swap: fraction of people '
        'whose prediction fits better '
        'with left and right exchanged (BoxNormalizedPoseMetric). The '
        'no-skill row places the training '
        'set\'s mean pose in each box without looking at the image: a model '
        'at that level has learned '
        'nothing. Latency: network forward (backbone + neck + head, no '
        'decoding or flip test) on the CPU; '
        'test: wall time of the whole held-out test (data, network, flip '
        'test, decoding, test-time '
        'adaptation, metrics). Training time excludes the periodic '
        'validation. A row that wraps another '
        'model (SCAI) counts only its own training in iters and train; a '
        'row named with a "+" suffix is '
        'the row above tested another way (same weights).'
    ]
    return '\n'.join(lines) + '\n'


# : line colours: matplotlib's ten cycle colours, then two more, so that eleven
# methods stay apart
COLOURS = tuple(f'C{i}' for i in range(10)) + ('black', 'gold')


def _short(name: str) -> str:
    """A legend label: the config name without the backbone and the data
    setting every synthetic config shares, e.g. ``poseur_effnet-lite0_no-
    noise_synthetic-128x96`` → ``poseur_no-noise``."""
    return re.sub(r'_synthetic-\d+x\d+', '',
                  re.sub(r'[_-]effnet-lite\d', '', name))


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _axes():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7.2, 4.6), dpi=100)


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str,
            no_skill, no_skill_label: str) -> None:
    """The no-skill line, labels, a 0-1 accuracy axis, the legend; save and
    close."""
    import matplotlib.pyplot as plt

    if no_skill is not None:
        ax.axhline(no_skill, color='grey', linestyle=':', label=no_skill_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_curves(results: List[dict],
                 path: Path,
                 title: str,
                 no_skill=None) -> None:
    """Held-out PCK@0.1 against iterations: a colour per method, seed 0 solid,
    other seeds dashed.

    Test variants ("+" rows) share their model's curve and are not drawn again.
    """
    fig, ax = _axes()
    for i, name in enumerate(
            _groups([
                r for r in results if r.get('curve') and '+' not in r['name']
            ])):
        rows = [r for r in results if r['name'] == name and r.get('curve')]
        for j, row in enumerate(rows):
            pts = [(p['iter'], p['synthetic/PCK@0.1']) for p in row['curve']
                   if 'synthetic/PCK@0.1' in p]
            if pts:
                ax.plot(
                    *zip(*pts),
                    color=_colour(i),
                    linestyle='-' if j == 0 else '--',
                    marker='.',
                    label=_short(name) if j == 0 else None)
    _finish(fig, ax, path, 'training iterations (batch 32)',
            'held-out PCK@0.1', title, no_skill, 'no skill (mean pose)')


def _plot_latency(results: List[dict],
                  path: Path,
                  title: str,
                  no_skill=None) -> None:
    """PCK@0.1 (held-out ●, real □) against CPU latency at batch 1, every
    method and seed."""
    fig, ax = _axes()
    groups = {
        n: rs
        for n, rs in _groups(results).items() if any(
            r.get('latency_b1_ms') for r in rs)
    }
    for i, (name, rows) in enumerate(groups.items()):
        rows = [r for r in rows if not r.get('error')]
        xs = [r['latency_b1_ms'] for r in rows]
        ax.scatter(
            xs, [r.get('synthetic/PCK@0.1', float('nan')) for r in rows],
            color=_colour(i),
            s=40,
            label=_short(name))
        ax.scatter(
            xs, [r.get('real/PCK@0.1', float('nan')) for r in rows],
            facecolors='none',
            edgecolors=_colour(i),
            marker='s',
            s=40)
    _finish(fig, ax, path, 'CPU latency, batch 1 (ms)',
            'PCK@0.1 (● held-out, □ real)', title, no_skill,
            'no skill (held-out)')


def write_report(results: List[dict], meta: Dict, out_dir) -> Dict[str, str]:
    """Write results.json, results.md, learning_curves.png and
    pck_vs_latency.png; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = dict(
        json=out / 'results.json',
        md=out / 'results.md',
        curves_plot=out / 'learning_curves.png',
        latency_plot=out / 'pck_vs_latency.png')
    paths['json'].write_text(
        json.dumps(dict(meta=meta, results=results), indent=2))
    paths['md'].write_text(markdown(results, meta))
    no_skill = next((r.get('synthetic/PCK@0.1')
                     for r in results if r.get('head') == 'MeanPoseBaseline'),
                    None)
    _plot_curves(results, paths['curves_plot'],
                 f"Learning curves ({meta['budget']})", no_skill)
    _plot_latency(results, paths['latency_plot'],
                  f"Accuracy vs latency ({meta['budget']})", no_skill)
    return {k: str(v) for k, v in paths.items()}
