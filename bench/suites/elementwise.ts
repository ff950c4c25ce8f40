// Element-wise ops through the engine (add, mul, relu, exp, broadcast add), ours against tfjs-webgpu:
// GB/s as a fraction of the copy kernel's bandwidth measured earlier in the same run.
import { add, exp, mul, relu, type Tensor } from '../../engine/index.ts';
import { engineTensor, measure, noise, withTensors, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { COPY_CEILING, copyProbe } from './copy.ts';
import { grid1d } from '../../engine/kernel.ts';
import { rowFrom } from '../suite.ts';
import { timeShader } from '../timing.ts';

const WG = 256;
/** The least a binary element-wise kernel can be: out = a + b over vec4s, 4 per invocation, no uniforms but n. */
const HAND_ADD = /* wgsl */ `
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let first = (wid.x + wid.y * nwg.x) * ${WG}u + lidx;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j * params.stride;
    if (i < params.n) { out[i] = a[i] + b[i]; }
  }
}`;

/** A probe row: the hand-written vec4 add above on n floats, to show what reading two streams costs. */
async function handAddProbe(n: number, shape: string, runs: number): Promise<BenchRow> {
  const grid = grid1d(Math.ceil(n / 16), WG);
  const timing = await timeShader(
    { name: 'bench_hand_add_vec4', wgsl: HAND_ADD, bindings: { a: n * 4, b: n * 4, out: n * 4 }, uniforms: { n: n / 4, stride: grid[0] * grid[1] * WG }, workgroups: grid },
    { runs },
  );
  return rowFrom(timing, { suite: 'elementwise', name: 'probe: hand-written WGSL vec4 add', shape, work: 12 * n, unit: 'GB/s', ceiling: COPY_CEILING });
}

type TfT = ReturnType<TfModule['tensor']>;

export const elementwiseSuite: Suite = {
  name: 'elementwise',
  description: 'engine element-wise ops on float32 against tfjs-webgpu; GB/s counts every input element read and output written once',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const n = ctx.quick ? 1 << 20 : 1 << 22;
    const cols = 1024;
    const [x, y, matrix, row] = [engineTensor([n], 1), engineTensor([n], 2), engineTensor([n / cols, cols], 3), engineTensor([cols], 4)];
    const makeTf = (tf: TfModule) => ({
      x: tf.tensor(noise(n, 1)),
      y: tf.tensor(noise(n, 2)),
      matrix: tf.tensor(noise(n, 3), [n / cols, cols]),
      row: tf.tensor(noise(cols, 4)),
    });
    const rows: BenchRow[] = [];
    await withTensors([x, y, matrix, row], () =>
      withTfjs(ctx, makeTf, async (t) => {
        const cases: [string, string, () => Tensor, ((tf: TfModule, t: Record<string, TfT>) => TfT), number][] = [
          ['add', `[${n}] + [${n}]`, () => add(x, y), (tf, t) => tf.add(t.x, t.y), 3 * n],
          ['mul', `[${n}] * [${n}]`, () => mul(x, y), (tf, t) => tf.mul(t.x, t.y), 3 * n],
          ['relu', `[${n}]`, () => relu(x), (tf, t) => tf.relu(t.x), 2 * n],
          ['exp', `[${n}]`, () => exp(x), (tf, t) => tf.exp(t.x), 2 * n],
          ['broadcast add', `[${n / cols}, ${cols}] + [${cols}]`, () => add(matrix, row), (tf, t) => tf.add(t.matrix, t.row), 2 * n + cols],
        ];
        const probed = new Set<string>();
        for (const [name, shape, ours, theirs, elements] of cases) {
          rows.push(
            await measure(ctx, {
              suite: 'elementwise', name, shape, work: 4 * elements, unit: 'GB/s', ceiling: COPY_CEILING,
              ours,
              tfjs: t ? (tf) => theirs(tf, t) : undefined,
              opts: { runs: ctx.quick ? 5 : 10 },
            }),
          );
          if (!probed.has(shape)) {
            rows.push(await copyProbe('elementwise', shape, 4 * elements, { runs: ctx.quick ? 5 : 10 }));
            if (name === 'add') rows.push(await handAddProbe(n, shape, ctx.quick ? 5 : 10));
          }
          probed.add(shape);
        }
      }),
    );
    return rows;
  },
};
