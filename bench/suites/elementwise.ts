// Element-wise ops through the engine (add, mul, relu, exp, broadcast add), ours against tfjs-webgpu:
// GB/s as a fraction of the copy kernel's bandwidth measured earlier in the same run. Each row is timed
// alternating with a copy of the same bytes and with the least WGSL kernel that does the op (a probe).
import { add, exp, mul, relu, type Tensor } from '../../engine/index.ts';
import { grid1d, Kernel } from '../../engine/kernel.ts';
import { engineTensor, noise, withTensors, withTfjs, type Probe } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { COPY_CEILING, measureWithCopy } from './copy.ts';

const WG = 256;
const VEC4_PER_INVOCATION = 4;

/**
 * The least kernel for an element-wise op over vec4s: VEC4_PER_INVOCATION items an invocation, a grid
 * apart, `value` over `a` (and `b`, full or, with `rowPeriod`, a row of that many vec4s repeating along the
 * leading axes, loaded once an invocation: the grid stride is a multiple of the period).
 */
function handShader(value: string, inputs: 1 | 2, rowPeriod?: number): string {
  const b = inputs === 2 ? '@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;' : '';
  const row = rowPeriod ? `if (first >= params.stride) { return; }\n  let bv = b[first % ${rowPeriod}u];` : '';
  return /* wgsl */ `
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
${b}
@group(0) @binding(${inputs}) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(${inputs + 1}) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let first = (wid.x + wid.y * nwg.x) * ${WG}u + lidx;
  ${row}
  for (var j = 0u; j < ${VEC4_PER_INVOCATION}u; j++) {
    let i = first + j * params.stride;
    if (i < params.n) { let av = a[i]; ${rowPeriod ? '' : inputs === 2 ? 'let bv = b[i];' : ''} out[i] = ${value}; }
  }
}`;
}

const handKernels = new Map<string, Kernel>();

/** A probe: `handShader` on our row's own input tensors; `dispose` frees its output. */
function handProbe(op: string, value: string, a: Tensor, b: Tensor | null, work: number, rowPeriod?: number): Probe & { dispose(): void } {
  const source = handShader(value, b ? 2 : 1, rowPeriod);
  const key = `bench_hand_${op.replace(/\W+/g, '_')}_vec4`;
  let kernel = handKernels.get(key);
  if (!kernel) handKernels.set(key, (kernel = new Kernel(key, source)));
  const out = engineTensor([a.size], 9);
  const items = a.size / 4;
  const stride = rowPeriod ? Math.ceil(items / rowPeriod / VEC4_PER_INVOCATION) * rowPeriod : 0;
  const grid = grid1d(rowPeriod ? stride : Math.ceil(items / VEC4_PER_INVOCATION), WG);
  const uniforms = { n: items, stride: rowPeriod ? stride : grid[0] * grid[1] * WG };
  const bindings = { a: a.storage, ...(b ? { b: b.storage } : {}), out: out.storage };
  return {
    name: `hand-written WGSL vec4 ${op} as ${op}`, work, unit: 'GB/s', ceiling: COPY_CEILING,
    note: `${b ? (rowPeriod ? 'a full load, a row load an invocation' : 'two loads') : 'one load'}, ${value}, one store: nothing else`,
    record: () => kernel.run(bindings, uniforms, grid),
    dispose: () => out.dispose(),
  };
}

type TfT = ReturnType<TfModule['tensor']>;

interface Case {
  name: string;
  shape: string;
  ours: () => Tensor;
  theirs: (tf: TfModule, t: Record<string, TfT>) => TfT;
  elements: number;
  hand: (work: number) => Probe & { dispose(): void };
}

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
        const cases: Case[] = [
          { name: 'add', shape: `[${n}] + [${n}]`, ours: () => add(x, y), theirs: (tf, t) => tf.add(t.x, t.y), elements: 3 * n, hand: (w) => handProbe('add', 'av + bv', x, y, w) },
          { name: 'mul', shape: `[${n}] * [${n}]`, ours: () => mul(x, y), theirs: (tf, t) => tf.mul(t.x, t.y), elements: 3 * n, hand: (w) => handProbe('mul', 'av * bv', x, y, w) },
          { name: 'relu', shape: `[${n}]`, ours: () => relu(x), theirs: (tf, t) => tf.relu(t.x), elements: 2 * n, hand: (w) => handProbe('relu', 'max(av, vec4<f32>(0.0))', x, null, w) },
          { name: 'exp', shape: `[${n}]`, ours: () => exp(x), theirs: (tf, t) => tf.exp(t.x), elements: 2 * n, hand: (w) => handProbe('exp', 'exp(av)', x, null, w) },
          {
            name: 'broadcast add', shape: `[${n / cols}, ${cols}] + [${cols}]`, ours: () => add(matrix, row), theirs: (tf, t) => tf.add(t.matrix, t.row),
            elements: 2 * n + cols, hand: (w) => handProbe('broadcast add', 'av + bv', matrix, row, w, cols / 4),
          },
        ];
        for (const c of cases) {
          const work = 4 * c.elements;
          const hand = c.hand(work);
          try {
            rows.push(
              ...(await measureWithCopy(ctx, {
                suite: 'elementwise', name: c.name, shape: c.shape, work, unit: 'GB/s', ceiling: COPY_CEILING,
                ours: c.ours,
                tfjs: t ? (tf) => c.theirs(tf, t) : undefined,
                probes: [hand],
                opts: { runs: ctx.quick ? 5 : 15, warmupMs: 500 },
              })),
            );
          } finally {
            hand.dispose();
          }
        }
      }),
    );
    return rows;
  },
};
