// `npm run bench`: runs the suites in bench/suites/index.ts and writes bench/results/latest.json and
// bench/RESULTS.md. Options: --suite a,b (a subset; results go to bench/results/<a,b>.json), --quick,
// --no-peer (skip the tfjs-webgpu comparison), --report (measure nothing: rewrite RESULTS.md from
// results/latest.json, after a change to how the report reads a run), --out DIR (write latest.json and
// RESULTS.md into DIR instead: a run on another machine). After each suite the rows so far go to
// <out>/results/partial.json, so a run stopped part-way keeps what it measured.
import os from 'node:os';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { init, shutdown } from '../engine/index.ts';
import { CeilingTracker } from './ceilings.ts';
import { machineInfo } from './machine.ts';
import { loadTfjs, type TfjsPeer } from './peers/tfjs.ts';
import { writeJson, writeMarkdown, type BenchReport } from './report.ts';
import type { BenchContext, BenchRow } from './suite.ts';
import { SUITES } from './suites/index.ts';

// Mesa reads this when the device is created (in init): without it, "cold" is a cache hit after the first run.
if (!process.env.FNA_BENCH_SHADER_CACHE) process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';

interface Args {
  suites: string[] | null;
  quick: boolean;
  peer: boolean;
  reportOnly: boolean;
  out: string | null;
}

function parseArgs(argv: string[]): Args {
  let suites: string[] | null = null;
  let quick = false;
  let peer = true;
  let reportOnly = false;
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') quick = true;
    else if (argv[i] === '--no-peer') peer = false;
    else if (argv[i] === '--report') reportOnly = true;
    else if (argv[i] === '--out') out = argv[++i] ?? null;
    else if (argv[i] === '--suite') suites = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (argv[i].startsWith('--suite=')) suites = argv[i].slice(8).split(',').filter(Boolean);
    else throw new Error(`bench: unknown argument '${argv[i]}' (use --suite a,b, --quick, --no-peer, --out DIR and --report)`);
  }
  const unknown = (suites ?? []).filter((s) => !SUITES.some((x) => x.name === s));
  if (unknown.length) throw new Error(`bench: no suite named ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
    if (out === null && argv.includes('--out')) throw new Error('bench: --out needs a folder');
  return { suites, quick, peer, reportOnly, out };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const here = args.out ?? fileURLToPath(new URL('.', import.meta.url));
  // Runs on other adapters (e.g. from scripts/run-offline.sh): results/<name>.json beside RESULTS-<name>.md.
  const otherRuns = (existsSync(here) ? readdirSync(here) : []).filter((f) => /^RESULTS-[\w.-]+\.md$/.test(f)).sort();
  if (args.reportOnly) {
    const report = JSON.parse(readFileSync(join(here, 'results', 'latest.json'), 'utf8')) as BenchReport;
    writeMarkdown(join(here, 'RESULTS.md'), report, 'bench/results/latest.json', otherRuns);
    for (const md of otherRuns) {
      const name = md.slice('RESULTS-'.length, -'.md'.length);
      const other = JSON.parse(readFileSync(join(here, 'results', `${name}.json`), 'utf8')) as BenchReport;
      writeMarkdown(join(here, md), other, `bench/results/${name}.json`);
    }
    console.log(`rewrote bench/RESULTS.md${otherRuns.map((f) => `, bench/${f}`).join('')} from their JSON (nothing measured)`);
    return;
  }
  const started = performance.now();
  await init();
  const machine = machineInfo();
  console.log(`bench on ${machine.adapter} (${machine.backend}), ${machine.cpu} x${machine.cores}, load ${machine.loadAverage.toFixed(2)}`);
  let peer: Promise<TfjsPeer | null> | null = null;
  const tfjs = () =>
    (peer ??= args.peer
      ? loadTfjs().then(
          (p) => ((machine.peers = { 'tfjs-webgpu': p.version }), p),
          (e: Error) => ((machine.peers = { 'tfjs-webgpu': `unavailable: ${e.message}` }), console.log(`tfjs-webgpu unavailable: ${e.message}`), null),
        )
      : Promise.resolve(null));
  const ctx: BenchContext = {
    quick: args.quick, ceilings: new CeilingTracker(), suiteIndex: 0, log: (line) => console.log(`  ${line}`), profiles: [], tfjs,
  };
  const selected = SUITES.filter((s) => !args.suites || args.suites.includes(s.name));
  const loadSamples: number[] = [];
  const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]), 10_000);
  const rows: BenchRow[] = [];
  const suiteOf = new Map<BenchRow, number>();
  const reportSoFar = (): BenchReport => {
    for (const r of rows) {
      const anchored = r.ceiling && r.checkMultiple !== undefined ? ctx.ceilings.fractionOf(r.ceiling, r.checkMultiple) : undefined;
      const ceiling = anchored ? r.value / anchored : r.ceiling ? ctx.ceilings.valueFor(r.ceiling, suiteOf.get(r)!) : undefined;
      r.ceilingValue = ceiling;
      r.fraction = ceiling ? r.value / ceiling : null;
      if (anchored && r.checkMultipleRuns) r.fractionRuns = r.checkMultipleRuns.map((m) => ctx.ceilings.fractionOf(r.ceiling!, m)!);
    }
    return {
      machine,
      suites: selected.map((s) => ({ name: s.name, description: s.description })),
      ceilings: ctx.ceilings.summary(),
      totalSeconds: (performance.now() - started) / 1000,
      rows,
      profiles: ctx.profiles,
    };
  };
  const partialFile = join(here, 'results', 'partial.json');
  try {
    for (const [index, suite] of selected.entries()) {
      const t0 = performance.now();
      console.log(`suite ${suite.name}: ${suite.description}`);
      ctx.suiteIndex = index;
      for (const row of await suite.run(ctx)) {
        rows.push(row);
        suiteOf.set(row, index);
      }
      await ctx.ceilings.checkAfter(index);
      const checks = Object.entries(ctx.ceilings.summary()).map(([name, c]) => `${name} check ${c.checks.at(-1)!.toFixed(2)}`);
      console.log(`suite ${suite.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s${checks.length ? ` (${checks.join(', ')})` : ''}`);
      writeJson(partialFile, reportSoFar());
    }
  } finally {
    machine.loadAverageEnd = os.loadavg()[0];
    machine.loadAverageMax = Math.max(machine.loadAverage, machine.loadAverageEnd, ...loadSamples);
    clearInterval(loadTimer);
    await shutdown();
  }
  const report = reportSoFar();
  rmSync(partialFile, { force: true });
  if (args.suites || args.quick) {
    const file = join(here, 'results', `${args.quick ? 'quick-' : ''}${selected.map((s) => s.name).join(',')}.json`);
    writeJson(file, report);
    console.log(`wrote ${file}`);
  } else {
    writeJson(join(here, 'results', 'latest.json'), report);
    writeMarkdown(join(here, 'RESULTS.md'), report, 'bench/results/latest.json', otherRuns);
    console.log(`wrote ${join(here, 'results', 'latest.json')} and ${join(here, 'RESULTS.md')} (${report.totalSeconds.toFixed(0)} s)`);
  }
  for (const r of rows) {
    const vs = r.speedup ? `  tfjs ${r.peer!.medianMs.toFixed(2).padStart(9)} ms  ${r.speedup.warm.toFixed(2)}x` : '';
    console.log(`${r.suite.padEnd(12)} ${r.name.padEnd(26)} ${r.shape.padEnd(44)} cold ${r.coldMs.toFixed(1).padStart(8)} ms  warm ${r.medianMs.toFixed(3).padStart(9)} ms  ${r.value.toFixed(2).padStart(7)} ${r.unit}${r.fraction !== null ? `  ${(100 * r.fraction).toFixed(0)}%` : ''}${vs}`);
  }
}

await main();
