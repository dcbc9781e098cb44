#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a make bench console log into results: JSON, a Markdown table with
the Rust/C ratio per metric, and a plot of the latency distributions.

Usage: bench-report.py CONSOLE_LOG OUT_DIR [--sizes SIZES_JSON] [--machine TEXT]
Writes OUT_DIR/results.json, results.md, latency.png; prints the table.
Exits 2 on unusable input, with a message.
"""
import argparse
import datetime
import json
import os
import statistics
import sys

METRICS = [
    ('wakeup_us', 'wakeup latency: IRQ from another thread -> KVM_RUN returns WAKEUP', 'us'),
    ('signal_us', 'signal round trip: signal -> KVM_RUN returns EINTR', 'us'),
    ('resume_us', 'resume latency: SET_MP_STATE(RUNNABLE) -> guest MMIO exit', 'us'),
    ('cpu_us_halt_poll', 'CPU time of a suspended vCPU thread per wait, halt polling on', 'us'),
    ('cpu_us_no_halt_poll', 'CPU time of a suspended vCPU thread per wait, halt_poll_ns=0', 'us'),
]


class Error(Exception):
    pass


def percentile(values, p):
    s = sorted(values)
    if not s:
        return float('nan')
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def stats(values):
    return {
        'n': len(values),
        'min': min(values) if values else float('nan'),
        'median': statistics.median(values) if values else float('nan'),
        'p90': percentile(values, 90),
        'p99': percentile(values, 99),
        'iqr': percentile(values, 75) - percentile(values, 25),
    }


def load(console):
    try:
        text = open(console, encoding='utf-8', errors='replace').read()
    except OSError as e:
        raise Error(f'{console}: {e.strerror}') from e
    if 'BENCH-JSON-BEGIN' not in text:
        raise Error(f'{console}: no benchmark output (did the guest run it?)')
    body = text.split('BENCH-JSON-BEGIN', 1)[1].split('BENCH-JSON-END', 1)[0]
    try:
        return json.loads(body.strip())
    except ValueError as e:
        raise Error(f'{console}: benchmark output is not JSON: {e}') from e


def fmt(x):
    return f'{x:.1f}' if x == x else 'n/a'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('console')
    ap.add_argument('out')
    ap.add_argument('--sizes', help='JSON file of code sizes from tools/report/codesize.sh')
    ap.add_argument('--machine', default='', help='where it ran, for the report')
    args = ap.parse_args()

    raw = load(args.console)
    impls = raw.get('impls', {})
    if set(impls) != {'rust', 'c'}:
        raise Error(f'expected samples for rust and c, got {sorted(impls)}')
    results = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
               'machine': args.machine, 'config': {k: v for k, v in raw.items() if k != 'impls'},
               'metrics': {}}
    rows = []
    for key, label, unit in METRICS:
        r, c = stats(impls['rust'].get(key, [])), stats(impls['c'].get(key, []))
        ratio = r['median'] / c['median'] if c['median'] else float('nan')
        results['metrics'][key] = {'label': label, 'unit': unit, 'rust': r, 'c': c,
                                   'ratio_median_rust_over_c': ratio}
        rows.append(f"| {label} | {r['n']} | {fmt(r['median'])} | {fmt(c['median'])} | "
                    f"**{ratio:.2f}** | {fmt(r['p90'])} / {fmt(c['p90'])} | "
                    f"{fmt(r['p99'])} / {fmt(c['p99'])} | {fmt(r['iqr'])} / {fmt(c['iqr'])} |")
    sizes = None
    if args.sizes:
        try:
            sizes = json.load(open(args.sizes, encoding='utf-8'))
        except (OSError, ValueError) as e:
            raise Error(f'{args.sizes}: {e}') from e
        results['code_size'] = sizes

    os.makedirs(args.out, exist_ok=True)
    md = [f"Measured {results['date']}{', ' + args.machine if args.machine else ''}; "
          f"{raw.get('cycles')} cycles per latency metric and implementation, in "
          f"{raw.get('rounds')} interleaved rounds, one boot; halt_poll_ns default "
          f"{raw.get('halt_poll_ns')}; CPU samples over {raw.get('cpu_wait_ms')} ms waits. "
          'Times in microseconds; ratio = Rust median / C median.',
          '',
          '| metric | n | Rust median | C median | Rust/C | p90 Rust / C | p99 Rust / C | IQR Rust / C |',
          '|---|---|---|---|---|---|---|---|'] + rows
    if sizes:
        md += ['', '| code size (.text bytes) | Rust | C |', '|---|---|---|']
        for row in sizes.get('rows', []):
            md.append(f"| {row['what']} | {row['rust']} | {row['c']} |")
    text = '\n'.join(md) + '\n'
    with open(os.path.join(args.out, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(text)
    with open(os.path.join(args.out, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump({**results, 'samples': impls}, f, indent=1)
    plot(impls, os.path.join(args.out, 'latency.png'))
    print(text, end='')
    print(f"bench: {args.out}/results.json, results.md, latency.png")
    return 0


def plot(impls, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [m for m in METRICS if m[0] in ('wakeup_us', 'signal_us', 'resume_us')]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4))
    for ax, (key, label, unit) in zip(axes, keys):
        for imp, style in (('rust', '-'), ('c', '--')):
            s = sorted(impls[imp].get(key, []))
            if s:
                ax.plot(s, [i / len(s) for i in range(1, len(s) + 1)], style, label=imp)
        ax.set_title(label.split(':')[0])
        ax.set_xlabel(unit)
        ax.set_ylabel('fraction of samples (CDF)')
        ax.set_xscale('log')
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle('vCPU suspend: Rust vs C, same boot, interleaved (QEMU TCG)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Error as e:
        print(f'bench-report: error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
