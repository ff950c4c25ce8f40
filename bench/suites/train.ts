// End to end: one MobileNetV2 training step (64x64 input, softmax cross-entropy, SGD momentum 0.9) at
// width 1.0 batch 8 and width 0.5 batch 16, ours against the same model in tfjs ops on the same device;
// and the FNA++ super network's architecture step (every candidate of every searchable layer mixed by
// softmax(alpha), loss = mean of the last stage + 0.1 x expected MAdds, backward to the alphas, Adam on
// the alphas), ours only: tfjs has no equivalent; and a ResNet-18 step (SGD momentum, ours only), with
// the Winograd path off as a probe. Wall clock: a step includes recording its dispatches.
// The GFLOP/s is the forward's multiply-adds x 3 (forward + two backward passes) / step time.
import { add, affine, backward, crossEntropy, fromArray, mean, uncached, type Tensor } from '../../engine/index.ts';
import { HostRng } from '../../engine/nn/init.ts';
import { Adam, SGD } from '../../engine/optim/index.ts';
import { mbconvLayers, mobilenetV2Arch, searchSpacePreset, superArch, type MobileNetArch } from '../../fna/arch/index.ts';
import { resnetArch, resnetBlocks } from '../../fna/arch/resnet.ts';
import type { ResNetArch } from '../../fna/arch/types.ts';
import { ResNet } from '../../fna/models/resnet.ts';
import { setWinogradConv } from '../../engine/ops/conv-winograd.ts';
import { MobileNetV2 } from '../../fna/models/mobilenet.ts';
import { SuperNet } from '../../fna/models/supernet.ts';
import { engineTensor, measure, measureWithProbes } from '../compare.ts';
import { tfjsMobileNetV2, type TfjsTrainer } from '../peers/tfjs-mobilenet.ts';
import { profileOurs, profileTfjs } from '../profile.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { MATMUL_CEILING } from './matmul.ts';

const SIZE = 64;
const CLASSES = 10;

/** Forward multiply-adds of a MobileNetV2 arch at a square input (convs and classifier). */
export function forwardMultiplyAdds(arch: MobileNetArch, size: number, batch: number): number {
  let side = Math.ceil(size / arch.stem.stride);
  let macs = side * side * 9 * arch.inputChannels * arch.stem.out;
  for (const l of mbconvLayers(arch)) {
    const out = Math.ceil(side / l.stride);
    if (l.op.expansion !== 1) macs += side * side * l.in * l.hidden;
    macs += out * out * l.op.kernel * l.op.kernel * l.hidden + out * out * l.hidden * l.out;
    side = out;
  }
  const last = arch.stages[arch.stages.length - 1].out;
  if (arch.head) macs += side * side * last * arch.head.out;
  return batch * (macs + (arch.head?.out ?? last) * (arch.numClasses ?? 0));
}

async function mobileNetStep(ctx: BenchContext, width: number, batch: number): Promise<BenchRow> {
  const size = ctx.quick ? 32 : SIZE;
  const arch = mobilenetV2Arch({ widthMultiplier: width, numClasses: CLASSES, inputChannels: 3 });
  const model = new MobileNetV2(arch, { rng: new HostRng(1) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = engineTensor([batch, 3, size, size], 1);
  const y = fromArray(Int32Array.from({ length: batch }, (_, i) => i % CLASSES), [batch], { dtype: 'int32' });
  const peer = await ctx.tfjs();
  const theirs: TfjsTrainer | null = peer ? tfjsMobileNetV2(peer.tf, arch, batch, size) : null;
  const ours = () => {
    const loss = crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    backward(loss);
    opt.step();
  };
  const label = `MobileNetV2 w${width.toFixed(1)} ${size}x${size} b${batch} step`;
  try {
    const row = await measure(ctx, {
      suite: 'train', name: `MobileNetV2 w${width.toFixed(1)} step`, shape: `${size}x${size} b${batch}`,
      work: 3 * 2 * forwardMultiplyAdds(arch, size, batch), unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
      note: `${model.parameters().reduce((s, p) => s + p.size, 0)} parameters (tfjs ${theirs?.parameterCount ?? '-'})`,
      ours,
      tfjs: theirs ? () => theirs.step() : undefined,
      opts: { clock: 'wall', warmup: 1, runs: ctx.quick ? 1 : 5 },
    });
    ctx.profiles.push(await profileOurs(label, ours));
    if (peer && theirs) ctx.profiles.push(await profileTfjs(peer, label, () => theirs.step()));
    return row;
  } finally {
    theirs?.dispose();
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  }
}

/** Forward multiply-adds of a basic-block ResNet at a square input (convs, downsamples and classifier). */
export function resnetForwardMultiplyAdds(arch: ResNetArch, size: number, batch: number): number {
  const conv = (side: number, k: number, s: number, cin: number, cout: number, groups: number) => {
    const out = Math.ceil(side / s);
    return { out, macs: out * out * k * k * (cin / groups) * cout };
  };
  const stem = conv(size, arch.stem.kernel, arch.stem.stride, arch.inputChannels, arch.stem.out, 1);
  let macs = stem.macs;
  let side = arch.stem.maxPool ? Math.ceil(stem.out / 2) : stem.out;
  for (const b of resnetBlocks(arch)) {
    const first = conv(side, b.kernel, b.stride, b.in, b.width, b.groups);
    const second = conv(first.out, b.kernel, 1, b.width, b.out, b.groups);
    macs += first.macs + second.macs + (b.downsample ? conv(side, 1, b.stride, b.in, b.out, 1).macs : 0);
    side = first.out;
  }
  const last = arch.stages[arch.stages.length - 1].out;
  return batch * (macs + last * (arch.numClasses ?? 0));
}

/**
 * A ResNet-18 training step (the FNA++ seeds' other family): ours only, with the same step with the
 * Winograd path off as a probe timed alternating with it (its 3x3 convs take im2col + GEMM and the direct
 * weight gradient instead).
 */
async function resnetStep(ctx: BenchContext, batch: number): Promise<BenchRow[]> {
  const size = ctx.quick ? 32 : SIZE;
  const arch = resnetArch(18, 64, { numClasses: CLASSES });
  const model = new ResNet(arch, { rng: new HostRng(4) });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = engineTensor([batch, 3, size, size], 1);
  const y = fromArray(Int32Array.from({ length: batch }, (_, i) => i % CLASSES), [batch], { dtype: 'int32' });
  const step = () => {
    const loss = crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    backward(loss);
    opt.step();
  };
  const work = 3 * 2 * resnetForwardMultiplyAdds(arch, size, batch);
  try {
    return await measureWithProbes(ctx, {
      suite: 'train', name: 'ResNet-18 step', shape: `${size}x${size} b${batch}`,
      work, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
      note: `${model.parameters().reduce((s, p) => s + p.size, 0)} parameters; no tfjs model`,
      ours: step,
      opts: { clock: 'wall', warmup: 1, runs: ctx.quick ? 1 : 5 },
      probes: [{
        name: 'ResNet-18 step without Winograd', work, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
        record: () => {
          setWinogradConv(false);
          try {
            step();
          } finally {
            setWinogradConv(true);
          }
        },
      }],
    });
  } finally {
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  }
}

async function superNetStep(ctx: BenchContext, batch: number): Promise<BenchRow[]> {
  const size = ctx.quick ? 32 : SIZE;
  const net = new SuperNet(superArch(searchSpacePreset('detection')), { rng: new HostRng(3), costInputSize: [size, size] });
  for (const p of net.parameters()) p.requiresGrad = false;
  const opt = new Adam(net.archParameters(), { lr: 3e-4 });
  const x = engineTensor([batch, 3, size, size], 1);
  const candidates = net.layers.reduce((s, l) => s + l.spec.candidates.length, 0);
  // net.costs: billions of multiply-adds per image of each candidate; forward + input-gradient backward.
  const mixedMultiplyAdds = net.costs.flat().reduce((s, c) => s + c, 0) * 1e9 * batch;
  const step = () => {
    const { stages, cost } = net.forwardSuper(x, { mode: 'mixed' });
    const last = stages[stages.length - 1];
    const loss = add(mean(last), affine(cost as Tensor, 0.1));
    opt.zeroGrad();
    backward(loss);
    opt.step();
  };
  try {
    const [row, rederived] = await measureWithProbes(ctx, {
      suite: 'train', name: 'FNA++ super-net arch step', shape: `${size}x${size} b${batch}`,
      work: 2 * 2 * mixedMultiplyAdds, unit: 'GFLOP/s', ceiling: MATMUL_CEILING,
      note: `detection space: ${net.layers.length} mixed layers, ${candidates} candidates; weights frozen (GFLOP/s counts the candidates' forward + input gradients); no tfjs equivalent`,
      ours: step,
      opts: { clock: 'wall', warmup: 1, runs: ctx.quick ? 1 : 5 },
      // Frozen weights: transposed pointwise weights and Winograd filters are made once (engine/derived.ts).
      probes: [{ name: 'FNA++ super-net arch step re-deriving weights every call', work: 2 * 2 * mixedMultiplyAdds, unit: 'GFLOP/s', ceiling: MATMUL_CEILING, record: () => uncached(step) }],
    });
    // Where the search phase's time goes (the adaptation pipeline will run this step thousands of times).
    ctx.profiles.push(await profileOurs(`FNA++ super-net arch step ${size}x${size} b${batch}`, step));
    return [row, rederived];
  } finally {
    x.dispose();
    opt.dispose();
    net.dispose();
  }
}

export const trainSuite: Suite = {
  name: 'train',
  description:
    'end-to-end training steps at 64x64: MobileNetV2 (SGD momentum, softmax cross-entropy) ours vs the same model in tfjs ops; ' +
    'a ResNet-18 step (ours only, with and without Winograd); the FNA++ super-network architecture step (ours only); wall clock per step; ' +
    'GFLOP/s = 3 x forward multiply-adds x 2 / step time',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    return [await mobileNetStep(ctx, 1.0, 8), await mobileNetStep(ctx, 0.5, 16), ...(await resnetStep(ctx, 8)), ...(await superNetStep(ctx, 8))];
  },
};
