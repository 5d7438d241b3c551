"""The benchmark's outputs: ``results.json`` (everything), ``results.md`` (the table, with the command that
produced it) and two PNG plots (AP vs CPU latency, AP vs training time), drawn with matplotlib's Agg backend."""
import json
from pathlib import Path
from typing import Dict, List

COLUMNS = (  # (key, header, format)
    ('name', 'config', '{}'), ('head', 'head', '{}'), ('params_M', 'params (M)', '{:.2f}'),
    ('gflops', 'GFLOPs', '{:.2f}'), ('iters', 'iters', '{}'), ('train_s', 'train (s)', '{:.0f}'),
    ('s_per_iter', 's / iter', '{:.2f}'),
    ('synthetic/AP', 'AP synth', '{:.3f}'), ('synthetic/AP .5', 'AP50 synth', '{:.3f}'),
    ('real/AP', 'AP real', '{:.3f}'), ('test_s', 'test synth (s)', '{:.0f}'),
    ('latency_b1_ms', 'CPU ms (b=1)', '{:.1f}'),
    ('latency_b32_ms', 'CPU ms (b=32)', '{:.0f}'))


def _cell(row: dict, key: str, fmt: str) -> str:
    if key == 's_per_iter':
        value = row['train_s'] / row['iters'] if row.get('iters') else None
    else:
        value = row.get(key)
    return '—' if value is None else fmt.format(value)


def markdown(results: List[dict], meta: Dict) -> str:
    lines = [f"Budget: {meta['budget']}; seed {meta['seed']}; device {meta['device']}; "
             f"CPU threads {meta['cpu_threads']}; data: {meta['data']}.", '',
             f"Command: `{meta['command']}`", '',
             '| ' + ' | '.join(c[1] for c in COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    for row in results:
        if row.get('error'):
            lines.append(f"| {row['name']} | failed: {row['error'].splitlines()[-1][:120]} |")
            continue
        lines.append('| ' + ' | '.join(_cell(row, k, f) for k, _, f in COLUMNS) + ' |')
    lines += ['', 'AP: COCO keypoint AP (MMPose\'s CocoMetric, ground-truth boxes) on the held-out generated '
              'split (synth) and on the real images of the test fixtures (real). Latency: network forward '
              '(backbone + neck + head, no decoding or flip test) on the CPU; test synth: wall time of the whole '
              'test on the generated split (data, network, flip test, decoding, test-time adaptation, metric). '
              'A row that wraps another model (SCAI) counts only its own training in iters and train.']
    return '\n'.join(lines) + '\n'


def _plot(results: List[dict], x_key: str, x_label: str, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    rows = [r for r in results if not r.get('error') and r.get(x_key) is not None]
    for i, row in enumerate(rows):
        colour = f'C{i % 10}'
        x = row[x_key]
        ax.scatter([x], [row.get('synthetic/AP', float('nan'))], color=colour, marker='o', s=50,
                   label=row['name'])
        if row.get('real/AP') is not None:
            ax.scatter([x], [row['real/AP']], facecolors='none', edgecolors=colour, marker='s', s=50)
    xs = [r[x_key] for r in rows if r[x_key] > 0]
    if xs and max(xs) / min(xs) > 20:  # timings spanning decades read better on a log axis
        ax.set_xscale('log')
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    aps = [r.get(k) or 0.0 for r in rows for k in ('synthetic/AP', 'real/AP')]
    ax.set_ylim(-0.02, max([0.1] + [1.15 * a for a in aps]))
    ax.set_xlabel(x_label)
    ax.set_ylabel('COCO AP (● synthetic val, □ real fixtures)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(results: List[dict], meta: Dict, out_dir) -> Dict[str, str]:
    """Write results.json, results.md, ap_vs_latency.png and ap_vs_train_time.png; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = dict(json=out / 'results.json', md=out / 'results.md', latency_plot=out / 'ap_vs_latency.png',
                 time_plot=out / 'ap_vs_train_time.png')
    paths['json'].write_text(json.dumps(dict(meta=meta, results=results), indent=2))
    paths['md'].write_text(markdown(results, meta))
    _plot(results, 'latency_b1_ms', 'CPU latency, batch 1 (ms)', paths['latency_plot'],
          f"AP vs latency ({meta['budget']})")
    _plot(results, 'train_s', 'training time (s)', paths['time_plot'], f"AP vs training time ({meta['budget']})")
    return {k: str(v) for k, v in paths.items()}
