// Batch norm in training mode (batch statistics, affine), forward and forward+backward, ours against tfjs
// (tf.moments + tf.batchNorm; tf.grads for the backward), in both regimes. GB/s counts x read and y written
// once (forward), plus dy read and dx written once (backward): the least a two-pass algorithm must move.
//
// Then what limits it: our BN is one workgroup per channel (64 invocations) that walks the channel in a
// strided loop, reduces with a shared-memory barrier tree, then writes y. Three probe shaders with the
// same walk isolate the parts: the walk alone (read x, write y), the walk plus a barrier-tree sum, and the
// same sum without barriers (every invocation writes its partial).
import { backward, batchNorm2d } from '../../engine/index.ts';
import { grid1d } from '../../engine/kernel.ts';
import { clearGrads, engineTensor, measure, noise, regimes, withTensors, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import { rowFrom, type BenchContext, type BenchRow, type Suite } from '../suite.ts';
import { timeShader } from '../timing.ts';
import { COPY_CEILING, copyProbe } from './copy.ts';

/** [channels, 1/scale of the regime's side]: an early wide map and a late many-channel one. */
const CASES: [number, number][] = [
  [96, 2],
  [576, 16],
];

type TfT = ReturnType<TfModule['tensor']>;

function tfjsBatchNorm(tf: TfModule, x: TfT, gamma: TfT, beta: TfT): TfT {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
}

const WG = 64;
/** One workgroup per channel walking [N, C, HW/4] vec4s like the BN kernels; `body` runs per element. */
function probe(decl: string, body: string, after: string): string {
  return /* wgsl */ `
struct Params { n: u32, c: u32, hw: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
${decl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let c = wid.x;
  var acc = vec4<f32>(0.0);
  for (var n = 0u; n < params.n; n++) {
    let base = (n * params.c + c) * params.hw;
    for (var s = lidx; s < params.hw; s += ${WG}u) {
      let i = base + s;
      ${body}
    }
  }
  ${after}
}`;
}

const TREE = /* wgsl */ `var<workgroup> red: array<vec4<f32>, ${WG}>;`;
const TREE_SUM = /* wgsl */ `
  red[lidx] = acc;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lidx < stride) { red[lidx] += red[lidx + stride]; }
    workgroupBarrier();
  }
  if (lidx == 0u) { y[c] = red[0]; }`;

const PROBES: [string, string, string, string][] = [
  ['probe: walk (read x, write y)', '', 'y[i] = x[i] * 2.0;', ''],
  ['probe: walk + barrier-tree sum', TREE, 'acc += x[i];', TREE_SUM],
  ['probe: walk + sum, no barriers', '', 'acc += x[i];', 'y[c * 64u + lidx] = acc;'],
];

async function probes(ctx: BenchContext, label: string, n: number, c: number, side: number): Promise<BenchRow[]> {
  const hw4 = (side * side) / 4;
  const elements = n * c * side * side;
  const rows: BenchRow[] = [];
  for (const [name, decl, body, after] of PROBES) {
    const timing = await timeShader(
      {
        name: `bench_bn_${name.replace(/\W+/g, '_')}`,
        wgsl: probe(decl, body, after),
        bindings: { x: elements * 4, y: elements * 4 },
        uniforms: { n, c, hw: hw4 },
        workgroups: grid1d(c, 1),
      },
      { warmup: 1, runs: ctx.quick ? 2 : 5 },
    );
    const bytes = (name.includes('write y') ? 2 : 1) * elements * 4;
    rows.push(rowFrom(timing, { suite: 'batchnorm', name, shape: `${label}: [${n}, ${c}, ${side}, ${side}]`, work: bytes, unit: 'GB/s', ceiling: COPY_CEILING }));
    ctx.log(`${name} [${n}, ${c}, ${side}, ${side}]: ${timing.medianMs.toFixed(2)} ms`);
  }
  return rows;
}

export const batchNormSuite: Suite = {
  name: 'batchnorm',
  description:
    'batch norm, training mode (batch statistics, affine), forward and forward+backward; tfjs-webgpu: tf.moments + tf.batchNorm, ' +
    'tf.grads; GB/s counts x, y (and dy, dx) once each; probe rows time the kernel layout alone (see "what limits batch norm")',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const r of regimes(ctx)) {
      for (const [c, scale] of CASES) {
        const side = Math.max(2, r.size / scale);
        const shape = [r.batch, c, side, side];
        const count = shape.reduce((a, b) => a * b, 1);
        const label = `${r.label}: [${shape.join(', ')}]`;
        const [x, weight, bias, dy] = [engineTensor(shape, 1), engineTensor([c], 2), engineTensor([c], 3), engineTensor(shape, 4)];
        const leaves = [x, weight, bias];
        const opts = { warmup: 1, runs: ctx.quick ? 2 : 5 };
        const makeTf = (tf: TfModule) => ({
          x: tf.tensor(noise(count, 1), [r.batch, side, side, c]),
          gamma: tf.tensor(noise(c, 2)),
          beta: tf.tensor(noise(c, 3)),
          dy: tf.tensor(noise(count, 4), [r.batch, side, side, c]),
        });
        await withTensors([x, weight, bias, dy], () =>
          withTfjs(ctx, makeTf, async (t) => {
            rows.push(
              await measure(ctx, {
                suite: 'batchnorm', name: 'batch norm fwd', shape: label, work: 2 * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
                ours: () => batchNorm2d(x, { weight, bias, training: true }),
                tfjs: t ? (tf) => tfjsBatchNorm(tf, t.x, t.gamma, t.beta) : undefined,
                opts,
              }),
            );
            rows.push(
              await measure(ctx, {
                suite: 'batchnorm', name: 'batch norm fwd+bwd', shape: label, work: 5 * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
                ours: () => {
                  for (const l of leaves) l.requiresGrad = true;
                  backward(batchNorm2d(x, { weight, bias, training: true }), dy);
                  clearGrads(leaves);
                  for (const l of leaves) l.requiresGrad = false;
                },
                tfjs: t ? (tf) => tf.grads((a, g, b) => tfjsBatchNorm(tf, a, g, b))([t.x, t.gamma, t.beta], t.dy) : undefined,
                opts,
              }),
            );
          }),
        );
        rows.push(await copyProbe('batchnorm', label, 2 * count * 4, opts));
        if (side % 2 === 0) rows.push(...(await probes(ctx, r.label, r.batch, c, side)));
      }
    }
    return rows;
  },
};
