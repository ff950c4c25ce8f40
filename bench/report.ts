// Writes a run's results: bench/results/latest.json (machine + rows) and bench/RESULTS.md (targets, tables).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CeilingSummary } from './ceilings.ts';
import type { MachineInfo } from './machine.ts';
import type { BenchRow, KernelProfile } from './suite.ts';
import { categorize, checkTargets, type TargetCheck, type TargetRow } from './targets.ts';

export interface BenchReport {
  machine: MachineInfo;
  suites: { name: string; description: string }[];
  /** Older result files hold the best value alone. */
  ceilings: Record<string, CeilingSummary | number>;
  totalSeconds: number;
  rows: BenchRow[];
  profiles: KernelProfile[];
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
const ratio = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(2)}x`);

/** Two lines per row: the cold call, then the warm median with its spread, throughput and fraction. */
function table(rows: BenchRow[]): string {
  const head =
    '| name | shape | run | ours ms | tfjs ms | tfjs / ours | throughput | of ceiling | ours spread ms (min / p10 / p90 / max) | clock | note |';
  const lines = rows.flatMap((r) => {
    const s = r.spread;
    const fraction = r.fraction === null ? '' : `${pct(r.fraction)} of ${r.ceiling}${r.ceilingValue ? ` (${r.ceilingValue.toFixed(2)})` : ''}`;
    const runs = `${r.runs} runs${r.callsPerRun > 1 ? ` × ${r.callsPerRun} calls` : ''}`;
    const peerCold = r.peer ? ms(r.peer.coldMs) : '';
    const peerWarm = r.peer ? ms(r.peer.medianMs) : '';
    return [
      `| ${r.name} | ${r.shape} | cold | ${ms(r.coldMs)} | ${peerCold} | ${ratio(r.speedup?.cold)} | | | | wall | |`,
      `| ${r.name} | ${r.shape} | warm | ${ms(r.medianMs)} | ${peerWarm} | ${ratio(r.speedup?.warm)} | ${r.value.toFixed(2)} ${r.unit} | ${fraction} | ` +
        `${ms(s.minMs)} / ${ms(s.p10Ms)} / ${ms(s.p90Ms)} / ${ms(s.maxMs)} (${runs}) | ${r.clock} | ${r.note ?? ''} |`,
    ];
  });
  return [head, '|---|---|---|---:|---:|---:|---:|---|---|---|---|', ...lines].join('\n');
}

function targetsSection(checks: TargetCheck[]): string {
  const show = (c: TargetCheck, v: number) => (c.kind === 'fraction' ? pct(v) : `${v.toFixed(2)}x`);
  const summary = checks.map((c) => {
    const met = c.rows.filter((t) => t.met).length;
    const worst = c.rows.reduce((w, t) => (t.measured < w.measured ? t : w), c.rows[0]);
    const bound = c.rows.filter((t) => t.adapterBound).length;
    const beyond = c.rows.filter((t) => t.limitBelowTarget).length;
    const gemm = c.rows.filter((t) => t.atGemmShape).length;
    const status = !c.rows.length
      ? 'not measured'
      : met === c.rows.length
        ? '**met**'
        : `**not met** (${c.rows.length - met} of ${c.rows.length} below${bound ? `; ${bound} of them at a limit of the adapter measured in this run` : ''}` +
          `${beyond ? `; ${beyond} more where the adapter's limit measured in this run is itself below the target` : ''}` +
          `${gemm ? `; ${gemm} of them at or above our matmul on their own GEMM shape` : ''})`;
    const worstText = worst ? `${show(c, worst.measured)} (${worst.row.name}, ${worst.row.shape.split(':')[0]})` : '';
    return `| ${c.target} | ${met} / ${c.rows.length} | ${worstText} | ${status} |`;
  });
  const details = checks.map((c) => {
    const label = (t: TargetRow) =>
      t.met ? 'met' : t.adapterBound ? 'not met: adapter limit' : t.limitBelowTarget
        ? `not met: adapter limit ${show(c, t.limitBelowTarget.value)}, ours ${t.limitBelowTarget.ratio.toFixed(2)}x its time`
        : 'not met';
    const range = (t: TargetRow) => (t.runRange ? `${show(c, t.runRange[0])} - ${show(c, t.runRange[1])}` : '');
    const rows = c.rows.map((t) => `| ${t.row.name} | ${t.row.shape} | ${show(c, t.measured)} | ${range(t)} | ${label(t)} |`);
    const limits = c.limits.length ? `\nWhat limits the misses (measured in this run):\n\n${c.limits.join('\n')}\n` : '';
    return `### ${c.target}\n\n| row | shape | measured | lowest - highest run | |\n|---|---|---:|---:|---|\n${rows.join('\n')}\n${limits}`;
  });
  return [
    '| target | rows met | worst | status |',
    '|---|---:|---|---|',
    ...summary,
    '',
    ...details,
  ].join('\n');
}

function profilesSection(all: KernelProfile[]): string {
  const profiles = all.filter((p) => !p.brief);
  if (!profiles.length) return '';
  const blocks = profiles.map((p) => {
    const cats = categorize(p);
    const top = p.kernels.slice(0, 12).map((k) => `| ${k.kernel} | ${k.calls} | ${ms(k.totalMs)} | ${pct(k.totalMs / cats.total)} |`);
    const kinds = Object.entries(cats).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${ms(v)} ms`).join(', ');
    const byKind = p.title.endsWith('step') ? `; by kind: ${kinds}` : '';
    const recording = p.recordMs === undefined ? '' : `; recording it unprofiled takes ${ms(p.recordMs)} ms of JavaScript`;
    return `#### ${p.library}: ${p.title}\n\nGPU kernel time ${ms(cats.total)} ms over ${p.kernels.reduce((s, k) => s + k.calls, 0)} kernels ` +
      `(profiled call ${ms(p.wallMs)} ms wall${recording})${byKind}.\n\n| kernel | calls | ms | share |\n|---|---:|---:|---:|\n${top.join('\n')}`;
  });
  return `## Kernel profiles\n\nOne call, each kernel timed on its own with GPU timestamps (ours: \`startProfiling()\`; tfjs: \`tf.profile\`).\n\n${blocks.join('\n\n')}\n`;
}

export function writeJson(file: string, report: BenchReport): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
}

/**
 * `rawJson`: where the run's JSON lives, as the text names it. `otherRuns`: markdown files of runs on other
 * adapters, listed under Machine.
 */
export function writeMarkdown(file: string, report: BenchReport, rawJson = 'bench/results/latest.json', otherRuns: string[] = []): void {
  const m = report.machine;
  const sections = report.suites.map((s) => `### ${s.name}\n\n${s.description}.\n\n${table(report.rows.filter((r) => r.suite === s.name))}`);
  const peers = Object.entries(m.peers ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const ceilings = Object.entries(report.ceilings)
    .map(([name, c]) =>
      typeof c === 'number'
        ? `${name} ${c.toFixed(2)}`
        : `${name} ${(c.value ?? c.best).toFixed(2)} (best ${c.best.toFixed(2)}${
            c.multiples ? `; best kernels timed alternating with the check: ${c.multiples.map((m) => `${m.toFixed(2)}x`).join(', ')} of it` : ''
          }; checks ${c.checks.map((v) => v.toFixed(2)).join(', ')})`,
    )
    .join('; ');
  const load = `${m.loadAverage.toFixed(2)} / ${m.loadAverageEnd?.toFixed(2) ?? '?'} (highest sampled ${m.loadAverageMax?.toFixed(2) ?? '?'})`;
  // Runs from before rows were anchored to the checks (bench/ceilings.ts) are described as they were measured.
  const anchored = report.rows.some((r) => r.checkMultiple !== undefined);
  const text = `# Benchmark results

Generated by \`npm run bench\` on ${m.date} (${report.totalSeconds.toFixed(0)} s in all). Raw numbers: \`${rawJson}\`.

## Machine

| | |
|---|---|
| adapter | ${m.adapter} |
| backend | ${m.backend}${m.software ? ' (software)' : ''} |
| GPU timestamps | ${m.gpuTimestamps ? 'yes (timestamp-query)' : 'no (wall clock)'} |
| CPU | ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB |
| load average (1 min) at start / end | ${load} |
| ceilings (the run's median check times the largest multiple of it a best kernel ran at, timed alternating with it; checks after the suite and after each later suite) | ${ceilings || 'none measured'} |
| compared with | ${peers}, on the same device and queue |
| node | ${m.node} |
| OS | ${m.platform} |
| shader cache | ${m.shaderCache} |
${otherRuns.length ? `\nRuns on other adapters: ${otherRuns.map((f) => `[${f}](${f})`).join(', ')}.\n` : ''}
## How to reproduce
${rawJson.endsWith('latest.json') ? '' : `\nThis run: \`scripts/pack-offline.sh\` on a machine with npm, then \`OUT=dir bash scripts/run-offline.sh\` on the GPU machine (bench/README.md); \`dir/bench/results/latest.json\` became \`${rawJson}\`. On a machine with npm access:\n`}
\`\`\`
npm run bench                       # every suite; rewrites bench/results/latest.json and this file
npm run bench -- --suite conv,train # some suites (comma-separated); writes bench/results/<names>.json only
npm run bench -- --quick            # small sizes, few runs: a smoke test, not a measurement
npm run bench -- --no-peer          # without the tfjs-webgpu comparison
npm run bench -- --report           # rewrite this file from bench/results/latest.json (measures nothing)
FNA_BACKEND=vulkan FNA_ADAPTER=... npm run bench   # pick the adapter (see \`fna doctor\`)
\`\`\`

Every row is measured twice, by us and by tfjs-webgpu (\`@tensorflow/tfjs\` + \`@tensorflow/tfjs-backend-webgpu\`, dev
dependencies used only by bench/), in the same process on the same Dawn device, with the same clock. tfjs
uses its native NHWC layout, ours NCHW. Cold is the first call of that shape in the run, wall clock,
including pipeline compilation (Mesa's on-disk shader cache is disabled for the run so this is a real
compile; set FNA_BENCH_SHADER_CACHE=1 to keep it); a kernel variant compiled by an earlier row is not
compiled again. Warm times are per call after a warm-up: GPU timestamps around the work where the adapter
has \`timestamp-query\`, otherwise wall clock around a completed submit; training steps use wall clock (a
step includes recording its dispatches). "tfjs / ours" above 1 means we are faster. Fractions are of
ceilings measured in the same run: the best copy kernel's GB/s and the best matmul GFLOP/s. This machine's
speed drifts over a run, and flips between two modes about 2x apart, so each ceiling is checked: one fixed
kernel (a 16 MiB copy, a 512³ matmul) is re-timed three times right after the suite that measured the
best, then after every later suite. The suite's two fastest kernels are also timed alternating with the
check, which gives their speed as a multiple of the check's whatever mode they ran in; the ceiling is the
larger multiple times the median of all checks (bench/ceilings.ts${anchored ? '' : '; the value is beside each fraction below'}).${anchored ? ` Rows of later suites are
anchored the same way: the check's kernel runs alternating with each row and its probes, and a row's
fraction is its speed as a multiple of the check's (the median of the runs' ratios, each run beside a run of
the check) over the best kernel's multiple, so it holds in either mode; the value beside a fraction is the
ceiling that fraction implies for the row's median. Comparisons between a row and its probes are run by run
too.` : ''} Other processes slow every number down; the load averages above say how busy the machine was (on
this 2-core machine, anything above ~1 means the benchmark shared the CPUs). Rows named "probe" are
measurements that explain a result (see Targets), not targets themselves.${anchored ? ` Under Targets, "lowest -
highest run" is a row's value in each of its runs (its anchored fraction, or tfjs's time over ours in the run
beside it): how far this machine moved it within the run; "measured" is the median.` : ''}

## Targets

${targetsSection(checkTargets(report.rows, report.profiles))}
${profilesSection(report.profiles)}
## Results

${sections.join('\n\n')}
`;
  writeFileSync(file, text);
}
