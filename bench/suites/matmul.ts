// matmul GFLOP/s: square products at 512, 1024, 2048 with the engine's tile choice, then the candidate
// tile shapes compared at 1024 as a benny suite (benny's samples give the spread; its summary names the
// fastest). Every row is also a fraction of the best GFLOP/s measured in this run.
import benny from 'benny';
import { fromArray, matmul, sync, tidy, transpose, type Tensor } from '../../engine/index.ts';
import { MATMUL_TILES, matmulKernel, type TileConfig } from '../../engine/ops/matmul.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { rowFrom } from '../suite.ts';
import { engineDriver, pairedTimeRatio, summarize, timeGpu, timeWorks } from '../timing.ts';
import { measure, noise, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';

export const MATMUL_CEILING = 'best matmul GFLOP/s';

/** Tile shapes compared at 1024³; the engine uses 'small' and 'large' (MATMUL_TILES). */
const TILE_CANDIDATES: Record<string, TileConfig> = {
  '4x4 wg8x8 (small)': MATMUL_TILES.small,
  '4x4 wg16x16': { tileM: 4, tileN: 4, wgX: 16, wgY: 16 },
  '8x4 wg8x8': { tileM: 8, tileN: 4, wgX: 8, wgY: 8 },
  '8x8 wg8x8': { tileM: 8, tileN: 8, wgX: 8, wgY: 8 },
  '8x8 wg16x8 (large)': MATMUL_TILES.large,
};

function square(n: number, seed: number): Tensor {
  const data = new Float32Array(n * n);
  for (let i = 0; i < n * n; i++) data[i] = Math.sin(i * 0.37 + seed);
  return fromArray(data, [n, n]);
}

/** The products of a size: the forward, and the gradients autograd runs (dA = dY · Bᵀ, dB = Aᵀ · dY, transposes read in place). */
const PRODUCTS: Record<string, (a: Tensor, b: Tensor, dy: Tensor) => Tensor> = {
  matmul: (a, b) => matmul(a, b),
  'matmul grad A': (_a, b, dy) => matmul(dy, transpose(b)),
  'matmul grad B': (a, _b, dy) => matmul(transpose(a), dy),
};

/** Which product of which size a row of `sizes` measured. */
const productOf = new WeakMap<BenchRow, { n: number; name: string }>();

async function sizes(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of ctx.quick ? [256, 512] : [512, 1024, 2048]) {
    const a = square(n, 1);
    const b = square(n, 2);
    const dy = square(n, 3);
    const makeTf = (tf: TfModule) => [1, 2, 3].map((seed) => tf.tensor(noise(n * n, seed), [n, n]));
    const passes: [string, () => Tensor, (tf: TfModule, t: ReturnType<typeof makeTf>) => ReturnType<TfModule['matMul']>][] = [
      ['matmul', () => PRODUCTS.matmul(a, b, dy), (tf, [ta, tb]) => tf.matMul(ta, tb)],
      ['matmul grad A', () => PRODUCTS['matmul grad A'](a, b, dy), (tf, [, tb, tdy]) => tf.matMul(tdy, tb, false, true)],
      ['matmul grad B', () => PRODUCTS['matmul grad B'](a, b, dy), (tf, [ta, , tdy]) => tf.matMul(ta, tdy, true, false)],
    ];
    try {
      await withTfjs(ctx, makeTf, async (t) => {
        // At 2048³ one call takes seconds: the cold call is warm-up enough, and the gradients are left out.
        for (const [name, ours, theirs] of n >= 2048 ? passes.slice(0, 1) : passes) {
          const row = await measure(ctx, {
              suite: 'matmul', name, shape: `${n}x${n} · ${n}x${n}`, work: 2 * n ** 3, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
              ours,
              tfjs: t ? (tf) => theirs(tf, t) : undefined,
              opts: n >= 2048 ? { warmup: 0, runs: 2 } : { warmup: 1, runs: n >= 1024 ? 5 : 9 },
            });
          productOf.set(row, { n, name });
          rows.push(row);
        }
      });
    } finally {
      for (const t of [a, b, dy]) t.dispose();
    }
  }
  return rows;
}

/** Each tile candidate as a benny case: one product plus `await sync()` per call, wall clock. */
async function tiles(ctx: BenchContext): Promise<BenchRow[]> {
  const n = ctx.quick ? 256 : 1024;
  const a = square(n, 3);
  const b = square(n, 4);
  const run = async (tile: TileConfig) => {
    tidy(() => {
      matmulKernel(a, b, { tile });
    });
    await sync();
  };
  try {
    const cold = new Map<string, number>();
    for (const [name, tile] of Object.entries(TILE_CANDIDATES)) {
      const t0 = performance.now();
      await run(tile);
      cold.set(name, performance.now() - t0);
    }
    const summary = await benny.suite(
      `matmul tiles ${n}³`,
      ...Object.entries(TILE_CANDIDATES).map(([name, tile]) => benny.add(name, () => run(tile))),
      benny.configure({ cases: { minSamples: ctx.quick ? 2 : 3, maxTime: ctx.quick ? 0.5 : 1.5, initCount: 1, delay: 0 } }),
      benny.cycle((result) => ctx.log(`  tile ${result.name}: ${((2 * n ** 3 * result.ops) / 1e9).toFixed(2)} GFLOP/s ±${result.margin.toFixed(1)}% (${result.samples} samples)`)),
      benny.complete((s) => ctx.log(`  fastest tile: ${s.results[s.fastest.index].name}`)),
    );
    return summary.results.map((r) => {
      const samplesMs = r.details.sampleResults.map((s) => s * 1000);
      const stats = summarize(samplesMs);
      const row = rowFrom(
        { clock: 'wall', coldMs: cold.get(r.name) ?? NaN, runs: samplesMs.length, callsPerRun: 1, samplesMs, ...stats },
        { suite: 'matmul', name: `tile ${r.name}`, shape: `${n}x${n} · ${n}x${n}`, work: 2 * n ** 3, unit: 'GFLOP/s', ceiling: MATMUL_CEILING },
      );
      row.clock = 'benny (wall)';
      // benny ranks by mean ops/s; the row's GFLOP/s uses the median sample, so the two can disagree.
      row.note = r.name === summary.results[summary.fastest.index].name ? 'benny: fastest (mean)' : `benny: ${r.percentSlower}% slower (mean)`;
      return row;
    });
  } finally {
    a.dispose();
    b.dispose();
  }
}

export const matmulSuite: Suite = {
  name: 'matmul',
  description: 'square float32 matmul; GFLOP/s = 2·n³ / median time; fraction = of the best GFLOP/s in this run',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows = [...(await sizes(ctx)), ...(await tiles(ctx))];
    // Its check (see bench/ceilings.ts) re-times the 512³ product (about 60 ms a call here).
    const n = ctx.quick ? 256 : 512;
    const runs = ctx.quick ? 3 : 7;
    const check = async () => {
      const [a, b] = [square(n, 5), square(n, 6)];
      try {
        return (2 * n ** 3) / ((await timeGpu(() => matmul(a, b), { runs })).medianMs * 1e6);
      } finally {
        a.dispose();
        b.dispose();
      }
    };
    // Candidates for the best: the engine's products with 5+ alternating runs (a median of 2-3 runs let one
    // quiet second set the best: a 1024³ gradient at 6.4 GFLOP/s, its 3 runs 240-348 ms, while the check
    // after the suite measured 4.6), not benny's tile cases, each sampled in one stretch (tile 8x4 at 6.36
    // GFLOP/s while the other tiles and the engine's products measured 3.8-4.8). The two fastest are then
    // timed alternating with the check: the ceiling is the larger multiple times the run's median check.
    const settled = rows.filter((r) => productOf.has(r) && (ctx.quick || r.runs >= 5));
    const fastest = [...settled].sort((x, y) => y.value - x.value).slice(0, 2).map((r) => productOf.get(r)!);
    const anchor = (p: { n: number; name: string }) => async () => {
      const [a, b, dy] = [square(p.n, 1), square(p.n, 2), square(p.n, 3)];
      const [ca, cb] = [square(n, 5), square(n, 6)];
      try {
        const [best, checked] = await timeWorks([engineDriver(() => PRODUCTS[p.name](a, b, dy)), engineDriver(() => matmul(ca, cb))], { warmup: 1, runs });
        return p.n ** 3 / n ** 3 / pairedTimeRatio(best.samplesMs, checked.samplesMs);
      } finally {
        for (const t of [a, b, dy, ca, cb]) t.dispose();
      }
    };
    const checkWork = () => {
      const [a, b] = [square(n, 5), square(n, 6)];
      return {
        driver: engineDriver(() => matmul(a, b)),
        work: 2 * n ** 3,
        dispose: () => {
          a.dispose();
          b.dispose();
        },
      };
    };
    await ctx.ceilings.register(MATMUL_CEILING, Math.max(...settled.map((r) => r.value)), ctx.suiteIndex, check, fastest.map(anchor), checkWork);
    return rows;
  },
};
