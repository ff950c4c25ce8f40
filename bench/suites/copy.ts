// Bandwidth of a plain WGSL copy kernel (read + write): the ceiling for memory-bound ops. Run through
// shaderWork, the public path (with timeShader) for timing any user shader.
import { grid1d, Kernel } from '../../engine/kernel.ts';
import { allocate } from '../../engine/tensor.ts';
import { measureWithProbes, type Measurement, type Probe } from '../compare.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { rowFrom } from '../suite.ts';
import { pairedTimeRatio, shaderWork, timeWork, timeWorks, type Timing, type TimingOptions } from '../timing.ts';

const WG = 256;

/** Each invocation copies `perInvocation` elements, a grid apart (so a workgroup's reads stay contiguous). */
function copyShader(vec4: boolean, perInvocation: number): string {
  const t = vec4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> src: array<${t}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let first = (wid.x + wid.y * nwg.x) * ${WG}u + lidx;
  for (var j = 0u; j < ${perInvocation}u; j++) {
    let i = first + j * params.stride;
    if (i < params.n) { dst[i] = src[i]; }
  }
}`;
}

const VARIANTS: [string, boolean, number][] = [
  ['copy f32', false, 1],
  ['copy vec4<f32>', true, 1],
  ['copy vec4<f32> x4', true, 4],
];

export const COPY_CEILING = 'copy GB/s';

/** One copy of `floats` floats (a multiple of 4) with a variant of the kernel above, as a driver. */
function copyWork(floats: number, vec4 = true, perInvocation = 4) {
  const items = vec4 ? floats / 4 : floats;
  const grid = grid1d(Math.ceil(items / perInvocation), WG);
  return shaderWork({
    name: `bench_copy_${vec4 ? 'vec4' : 'f32'}_x${perInvocation}`,
    wgsl: copyShader(vec4, perInvocation),
    bindings: { src: floats * 4, dst: floats * 4 },
    uniforms: { n: items, stride: grid[0] * grid[1] * WG },
    workgroups: grid,
  });
}

/** Times one copy of `floats` floats (a multiple of 4) with a variant of the kernel above. */
export async function timeCopy(floats: number, opts: TimingOptions, vec4 = true, perInvocation = 4): Promise<Timing> {
  const work = copyWork(floats, vec4, perInvocation);
  try {
    return await timeWork(work.driver, opts);
  } finally {
    work.dispose();
  }
}

/**
 * Anchors (bench/ceilings.ts): copy variant `best` timed alternating with the check's copy, its GB/s as a
 * multiple of the check's.
 */
function copyAnchor(best: { floats: number; vec4: boolean; per: number }, checkFloats: number, runs: number) {
  return async () => {
    const [a, b] = [copyWork(best.floats, best.vec4, best.per), copyWork(checkFloats)];
    try {
      const [tBest, tCheck] = await timeWorks([a.driver, b.driver], { runs });
      return best.floats / checkFloats / pairedTimeRatio(tBest.samplesMs, tCheck.samplesMs);
    } finally {
      a.dispose();
      b.dispose();
    }
  };
}

const probeKernels = new Map<string, Kernel>();

/**
 * A probe (see compare.ts) copying `bytes` (read + written) with the x4 vec4 kernel; `dispose` frees its
 * buffers once measured.
 */
export function copyOfSameBytes(bytes: number): Probe & { dispose(): void } {
  const floats = Math.max(4, Math.round(bytes / 8 / 4) * 4);
  const perInvocation = 4;
  const items = floats / 4;
  const grid = grid1d(Math.ceil(items / perInvocation), WG);
  const key = `bench_copy_probe_x${perInvocation}`;
  let kernel = probeKernels.get(key);
  if (!kernel) probeKernels.set(key, (kernel = new Kernel(key, copyShader(true, perInvocation))));
  const src = allocate([floats]);
  const dst = allocate([floats]);
  const uniforms = { n: items, stride: grid[0] * grid[1] * WG };
  return {
    name: 'copy of the same bytes', work: 2 * floats * 4, unit: 'GB/s', ceiling: COPY_CEILING,
    record: () => kernel.run({ src: src.storage, dst: dst.storage }, uniforms, grid),
    dispose: () => {
      src.dispose();
      dst.dispose();
    },
  };
}

/**
 * A probe copying, in one dispatch per entry of `dispatchBytes`, that many bytes (read + written; 0: a
 * 16-byte copy, for a dispatch that moves next to nothing), each on its own buffers: what moving an op's
 * streams costs on this adapter in the op's own dispatches. Its work, for the GB/s, is `counted` bytes (the
 * row's).
 */
export function copyInDispatches(dispatchBytes: number[], counted: number): Probe & { dispose(): void } {
  const parts = dispatchBytes.map((b) => copyOfSameBytes(Math.max(b, 32)));
  return {
    name: `copy of the bytes moved, in ${dispatchBytes.length} dispatches`, work: counted, unit: 'GB/s', ceiling: COPY_CEILING,
    record: () => parts.forEach((p) => p.record()),
    dispose: () => parts.forEach((p) => p.dispose()),
  };
}

/**
 * `measureWithProbes` with a copy of the row's own bytes (m.work) as its probe, and optionally a copy of
 * the bytes each of the op's dispatches moves (`dispatchBytes`: more in all where it reads a tensor twice),
 * before the measurement's own probes.
 */
export async function measureWithCopy(ctx: BenchContext, m: Measurement, dispatchBytes?: number[]): Promise<BenchRow[]> {
  const copy = copyOfSameBytes(m.work);
  const passes = dispatchBytes ? copyInDispatches(dispatchBytes, m.work) : null;
  try {
    const probes = [
      { ...copy, name: `${copy.name} as ${m.name}` },
      ...(passes ? [{ ...passes, name: `${passes.name} as ${m.name}` }] : []),
      ...(m.probes ?? []),
    ];
    return await measureWithProbes(ctx, { ...m, probes });
  } finally {
    copy.dispose();
    passes?.dispose();
  }
}

export const copySuite: Suite = {
  name: 'copy',
  description: 'WGSL copy kernels (one f32, one vec4 or four vec4 per invocation); GB/s counts bytes read plus written; the best is the ceiling for memory-bound ops',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const sizes = ctx.quick ? [1 << 20] : [1 << 22, 1 << 24];
    const rows: BenchRow[] = [];
    const measured: { value: number; floats: number; vec4: boolean; per: number }[] = [];
    for (const floats of sizes) {
      for (const [name, vec4, per] of VARIANTS) {
        const timing = await timeCopy(floats, { runs: ctx.quick ? 5 : 10 }, vec4, per);
        const mb = (floats * 4) / 2 ** 20;
        const row = rowFrom(timing, { suite: 'copy', name, shape: `${floats} floats (${mb} MiB)`, work: 2 * floats * 4, unit: 'GB/s', ceiling: COPY_CEILING });
        rows.push(row);
        measured.push({ value: row.value, floats, vec4, per });
        ctx.log(`${name} ${mb} MiB: ${row.value.toFixed(2)} GB/s`);
      }
    }
    // The ceiling (bench/ceilings.ts): the two fastest variants, each timed alternating with the check (the
    // four-vec4 copy of the smaller size), their largest multiple of it times the run's median check.
    const floats = sizes[0];
    const runs = ctx.quick ? 3 : 9;
    const check = async () => (2 * floats * 4) / ((await timeCopy(floats, { runs })).medianMs * 1e6);
    const fastest = [...measured].sort((a, b) => b.value - a.value).slice(0, 2);
    const checkWork = () => ({ ...copyWork(floats), work: 2 * floats * 4 });
    await ctx.ceilings.register(COPY_CEILING, Math.max(...rows.map((r) => r.value)), ctx.suiteIndex, check, fastest.map((m) => copyAnchor(m, floats, runs)), checkWork);
    return rows;
  },
};
