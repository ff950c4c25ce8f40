// Convolutions at MobileNetV2 shapes, forward and both gradients, ours against tfjs-webgpu: the stem (3x3
// stride 2), pointwise 1x1 convs, a dense 3x3, and depthwise k3/k5/k7 at stride 1 and 2, in both input
// regimes. Ours calls the engine's conv launches directly (the kernels autograd runs); tfjs runs the
// kernels its gradients run (Conv2DBackpropInput/Filter, DepthwiseConv2dNativeBackpropInput/Filter)
// through tf.engine().runKernel, in its native NHWC layout. GFLOP/s = 2 x the direct convolution's
// multiply-adds / median time: effective for the dense 3x3, which runs as Winograd F(2x2, 3x3) (2.25x
// fewer multiplies), so its fraction of the matmul ceiling can pass 100%.
import type { Tensor as TfTensor } from '@tensorflow/tfjs';
import { convForward, convInputGrad, convWeightGrad, type ConvGeometry } from '../../engine/ops/conv-launch.ts';
import { usesWinograd } from '../../engine/ops/conv-winograd.ts';
import { matmul, uncached } from '../../engine/index.ts';
import { engineTensor, measureWithProbes, noise, regimes, withTensors, withTfjs, type Probe, type Regime } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { MATMUL_CEILING } from './matmul.ts';
import { profileOurs } from '../profile.ts';

export interface ConvCase {
  name: string;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  depthwise: boolean;
  /** Input side = regime size / this (MobileNetV2's resolution at that layer). */
  scale: number;
}

/** Dense convs: the stem, pointwise expand / project / head, and a dense 3x3 (SSDLite-head style). */
export const DENSE_CASES: ConvCase[] = [
  { name: 'stem 3x3 s2', cin: 3, cout: 32, k: 3, stride: 2, depthwise: false, scale: 1 },
  { name: 'pointwise 16->96', cin: 16, cout: 96, k: 1, stride: 1, depthwise: false, scale: 2 },
  { name: 'pointwise 144->24', cin: 144, cout: 24, k: 1, stride: 1, depthwise: false, scale: 4 },
  { name: 'pointwise 320->1280', cin: 320, cout: 1280, k: 1, stride: 1, depthwise: false, scale: 32 },
  { name: 'dense 3x3 32->64', cin: 32, cout: 64, k: 3, stride: 1, depthwise: false, scale: 4 },
];

/** Depthwise: 144 channels at 1/4 (stride 1, stage 2) and 96 channels at 1/2 (stride 2, into stage 2). */
export const DEPTHWISE_CASES: ConvCase[] = [3, 5, 7].flatMap((k) => [
  { name: `depthwise k${k} s1`, cin: 144, cout: 144, k, stride: 1, depthwise: true, scale: 4 },
  { name: `depthwise k${k} s2`, cin: 96, cout: 96, k, stride: 2, depthwise: true, scale: 2 },
]);

function geometry(c: ConvCase, r: Regime): ConvGeometry {
  const side = Math.max(1, Math.round(r.size / c.scale));
  const pad = (c.k - 1) >> 1;
  const out = Math.floor((side + 2 * pad - c.k) / c.stride) + 1;
  return {
    n: r.batch, c: c.cin, h: side, w: side, o: c.cout, kh: c.k, kw: c.k, oh: out, ow: out,
    groups: c.depthwise ? c.cin : 1, stride: [c.stride, c.stride], dilation: [1, 1], padding: [pad, pad, pad, pad],
  };
}

type Pass = 'fwd' | 'grad x' | 'grad w';
const PASSES: Pass[] = ['fwd', 'grad x', 'grad w'];
const WINOGRAD_PASS = { fwd: 'forward', 'grad x': 'inputGrad', 'grad w': 'weightGrad' } as const;

interface TfInputs {
  x: TfTensor;
  w: TfTensor;
  dy: TfTensor;
}

function tfjsPass(tf: TfModule, c: ConvCase, g: ConvGeometry, pass: Pass, t: TfInputs): TfTensor {
  const pad = g.padding[0];
  const strides: [number, number] = [c.stride, c.stride];
  const inputShape = [g.n, g.h, g.w, g.c];
  const filterShape = t.w.shape;
  const run = (kernel: string, inputs: Record<string, TfTensor>, attrs: Record<string, unknown>) =>
    tf.engine().runKernel(kernel, inputs as never, attrs as never) as TfTensor;
  if (c.depthwise) {
    if (pass === 'fwd') return tf.depthwiseConv2d(t.x as never, t.w as never, strides, pad);
    const attrs = { strides, pad, dilations: [1, 1], dimRoundingMode: undefined };
    if (pass === 'grad x') return run('DepthwiseConv2dNativeBackpropInput', { dy: t.dy, filter: t.w }, { ...attrs, inputShape });
    return run('DepthwiseConv2dNativeBackpropFilter', { x: t.x, dy: t.dy }, { ...attrs, filterShape });
  }
  if (pass === 'fwd') return tf.conv2d(t.x as never, t.w as never, strides, pad);
  const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  if (pass === 'grad x') return run('Conv2DBackpropInput', { dy: t.dy, filter: t.w }, { ...attrs, inputShape });
  return run('Conv2DBackpropFilter', { x: t.x, dy: t.dy }, { ...attrs, filterShape });
}

/**
 * Our matmul on the GEMM a pass of the dense conv amounts to (im2col view): forward [O, C·kh·kw] ·
 * [C·kh·kw, N·OH·OW]; gradient to x [C·kh·kw, O] · [O, N·OH·OW]; gradient to w [O, N·OH·OW] ·
 * [N·OH·OW, C·kh·kw]. A probe timed alternating with the pass; `dispose` frees its operands.
 */
function matmulProbe(c: ConvCase, g: ConvGeometry, pass: Pass): Probe & { dispose(): void } {
  const [o, ckk, pix] = [g.o, g.c * g.kh * g.kw, g.n * g.oh * g.ow];
  const [m, k, n] = pass === 'fwd' ? [o, ckk, pix] : pass === 'grad x' ? [ckk, o, pix] : [o, pix, ckk];
  const a = engineTensor([m, k], 5);
  const b = engineTensor([k, n], 6);
  return {
    name: `matmul as ${c.name} ${pass}`, work: 2 * m * k * n, unit: 'GFLOP/s', ceiling: MATMUL_CEILING, note: `[${m} x ${k}] · [${k} x ${n}]`,
    record: () => matmul(a, b),
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

/**
 * Passes that run on a weight derived from w (engine/derived.ts): the pointwise forward on a transposed copy,
 * Winograd's forward and gradient to x on U. The weights stay the same across the row's calls, as in
 * evaluation, so the copy is made once; the probe below times the pass making it every call, as in training.
 */
function derivesWeights(c: ConvCase, g: ConvGeometry, pass: Pass): boolean {
  if (c.depthwise) return false;
  if (pass !== 'grad w' && usesWinograd(g, WINOGRAD_PASS[pass])) return true;
  return c.k === 1 && c.stride === 1 && g.h * g.w > 1 && (pass === 'fwd' ? g.o % 4 === 0 : g.c % 4 !== 0);
}

const DERIVED_NOTE = 'weights unchanged between calls: the derived weight is made once (see the re-deriving probe)';

function rederiveProbe(name: string, work: number, ours: () => unknown): Probe {
  return {
    name: `${name} re-deriving the weight every call`, work, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
    note: 'as in training, where every step writes the weights', record: () => uncached(ours),
  };
}

async function convRows(ctx: BenchContext, suite: string, cases: ConvCase[]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const r of regimes(ctx)) {
    for (const c of cases) {
      const g = geometry(c, r);
      const wShape = [g.o, g.c / g.groups, g.kh, g.kw];
      const x = engineTensor([g.n, g.c, g.h, g.w], 1);
      const w = engineTensor(wShape, 2);
      const gy = engineTensor([g.n, g.o, g.oh, g.ow], 3);
      const multiplyAdds = g.n * g.o * g.oh * g.ow * (g.c / g.groups) * g.kh * g.kw;
      const shape = `${r.label}: [${g.n}, ${g.c}, ${g.h}, ${g.w}] -> [${g.n}, ${g.o}, ${g.oh}, ${g.ow}]`;
      const ours: Record<Pass, () => unknown> = {
        fwd: () => convForward(g, x, w, null),
        'grad x': () => convInputGrad(g, gy, w),
        'grad w': () => convWeightGrad(g, x, gy),
      };
      const makeTf = (tf: TfModule): TfInputs => ({
        x: tf.tensor(noise(x.size, 1), [g.n, g.h, g.w, g.c]),
        w: tf.tensor(noise(w.size, 2), c.depthwise ? [g.kh, g.kw, g.c, 1] : [g.kh, g.kw, g.c, g.o]),
        dy: tf.tensor(noise(gy.size, 3), [g.n, g.oh, g.ow, g.o]),
      });
      await withTensors([x, w, gy], () =>
        withTfjs(ctx, makeTf, async (t) => {
          for (const pass of PASSES) {
            const probe = c.depthwise ? null : matmulProbe(c, g, pass);
            const winograd = !c.depthwise && usesWinograd(g, WINOGRAD_PASS[pass]);
            const rederived = derivesWeights(c, g, pass) ? [rederiveProbe(`${c.name} ${pass}`, 2 * multiplyAdds, ours[pass])] : [];
            try {
              rows.push(
                ...(await measureWithProbes(ctx, {
                  suite, name: `${c.name} ${pass}`, shape, work: 2 * multiplyAdds, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
                  ...(winograd ? { effective: true, note: 'effective GFLOP/s: Winograd' } : {}),
                  ours: ours[pass],
                  tfjs: t ? (tf) => tfjsPass(tf, c, g, pass, t) : undefined,
                  ...(rederived.length ? { note: [winograd ? 'effective GFLOP/s: Winograd' : '', DERIVED_NOTE].filter(Boolean).join('; ') } : {}),
                  probes: [...(probe ? [probe] : []), ...rederived],
                  opts: { warmup: 1, runs: ctx.quick ? 2 : 5, minRunMs: ctx.quick ? 20 : 50 },
                })),
              );
              ctx.profiles.push({ ...(await profileOurs(`${c.name} ${pass} ${shape}`, () => void ours[pass]())), brief: true });
            } finally {
              probe?.dispose();
            }
          }
        }),
      );
    }
  }
  return rows;
}

export const convSuite: Suite = {
  name: 'conv',
  description:
    'dense convolutions at MobileNetV2 shapes (stem, pointwise, dense 3x3), forward and gradients to input and weight; ' +
    'tfjs-webgpu runs the same kernels in NHWC; GFLOP/s = 2 x the direct multiply-adds / median time, as a fraction of the best matmul ' +
    '(effective for the dense 3x3, which runs as Winograd F(2x2, 3x3) with 2.25x fewer multiplies)',
  run: (ctx) => convRows(ctx, 'conv', DENSE_CASES),
};

export const depthwiseSuite: Suite = {
  name: 'depthwise',
  description:
    'depthwise convolutions k3/k5/k7 at stride 1 (144 channels at 1/4 resolution) and stride 2 (96 channels at 1/2), ' +
    'forward and gradients; tfjs-webgpu in NHWC; GFLOP/s = 2 x multiply-adds / median time',
  run: (ctx) => convRows(ctx, 'depthwise', DEPTHWISE_CASES),
};
