// Each task head on a MobileNetV2 backbone: one batch of its synthetic task, a loss, backward, an SGD step.
// The loss must be finite, every parameter must get a gradient, a few steps on the same batch must lower
// the loss, and nothing may leak.
import { describe, expect, it } from 'vitest';
import { backward, crossEntropy, fromArray, memory, tidy } from '../engine/index.ts';
import { heatmapMseLoss } from '../engine/ops/task-losses.ts';
import { HostRng } from '../engine/nn/init.ts';
import { SGD } from '../engine/optim/index.ts';
import { mobilenetV2Arch } from '../fna/arch/index.ts';
import { loadDataset } from '../fna/data/datasets.ts';
import { DataLoader } from '../fna/data/loader.ts';
import { createDetectionTask } from '../fna/data/detection.ts';
import { createPoseTask } from '../fna/data/pose.ts';
import { createSegmentationTask } from '../fna/data/segmentation.ts';
import { anchorsPerPosition, generateAnchors, matchAnchors, ssdLevels } from '../fna/heads/anchors.ts';
import { DeepLabV3Head } from '../fna/heads/deeplab.ts';
import { heatmapTargets, SimpleBaselineHead } from '../fna/heads/pose.ts';
import { SSDLiteHead } from '../fna/heads/ssdlite.ts';
import { MobileNetV2 } from '../fna/models/mobilenet.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { Module } from '../engine/nn/module.ts';

const glyphs = loadDataset('mnist', 'test');
const rng = () => new HostRng(9);

async function trainSteps(modules: Module[], lossOf: () => Tensor, steps = 4): Promise<number[]> {
  const params = modules.flatMap((m) => m.parameters());
  const opt = new SGD(params, { lr: 0.02, momentum: 0.9 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const l = lossOf();
      opt.zeroGrad();
      backward(l);
      return l;
    });
    if (s === 0) expect(params.filter((p) => !p.grad).length).toBe(0);
    tidy(() => opt.step());
    losses.push(await loss.item());
    loss.dispose();
  }
  opt.dispose();
  return losses;
}

describe('task heads train on their synthetic tasks', () => {
  it('DeepLabv3 (separable ASPP) on an output-stride-16 backbone: per-pixel cross-entropy falls', async () => {
    const before = memory().live;
    const task = createSegmentationTask(glyphs, { count: 4, seed: 1, canvasSize: 64 });
    const batch = new DataLoader(task, { batchSize: 4, shuffle: false }).batch(0, 0);
    const backbone = new MobileNetV2(mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: null, head: false, outputStride: 16 }), { rng: rng() });
    const head = new DeepLabV3Head({ inChannels: backbone.arch.stages[backbone.arch.stages.length - 1].out, numClasses: task.numClasses, channels: 16 });
    const t = batch.targets as { labels: Int32Array };
    const losses = await trainSteps([backbone, head], () => {
      const { stages } = backbone.features(fromArray(batch.images, batch.shape));
      const feat = stages[stages.length - 1];
      expect(feat.shape.slice(2)).toEqual([4, 4]); // 64 / 16
      const logits = head.forward(feat, [64, 64]);
      return crossEntropy(logits, fromArray(t.labels, [4, 64, 64], { dtype: 'int32' }), { ignoreIndex: 255 });
    });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    backbone.dispose();
    head.dispose();
    expect(memory().live).toBe(before);
  });

  it('SSDLite: anchors matched to glyph boxes, focal + smooth-L1 loss falls', async () => {
    const before = memory().live;
    const task = createDetectionTask(glyphs, { count: 4, seed: 2, canvasSize: 64 });
    const batch = new DataLoader(task, { batchSize: 4, shuffle: false }).batch(0, 0);
    const backbone = new MobileNetV2(mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: null, head: false }), { rng: rng() });
    const arch = backbone.arch;
    const taps = [2, arch.stages.length - 1]; // stride 8 and stride 32 stage outputs
    const head = new SSDLiteHead({ inChannels: taps.map((s) => arch.stages[s].out), numClasses: task.numClasses, anchorsPerPosition: anchorsPerPosition([1, 2, 0.5]), extraChannels: [32] });
    const t = batch.targets as { boxes: Float32Array[]; classes: Int32Array[] };
    let anchors: Float32Array | null = null;
    const losses = await trainSteps([backbone, head], () => {
      const { stages } = backbone.features(fromArray(batch.images, batch.shape), taps);
      const picked = taps.map((s) => stages[taps.indexOf(s)]);
      const sizes = head.levelSizes(picked);
      anchors ??= generateAnchors(ssdLevels(64, sizes.map(([h, w]) => ({ height: h, width: w, stride: 64 / h }))));
      const { cls, reg } = head.forward(picked);
      expect(cls.shape[1]).toBe(anchors.length / 4);
      const matches = t.boxes.map((b, i) => matchAnchors(anchors!, b, t.classes[i]));
      expect(matches.every((m) => m.positives >= t.classes[matches.indexOf(m)].length)).toBe(true);
      return head.loss(cls, reg, matches);
    });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    backbone.dispose();
    head.dispose();
    expect(memory().live).toBe(before);
  });

  it('SimpleBaseline pose head: heatmap MSE falls', async () => {
    const before = memory().live;
    const task = createPoseTask(glyphs, { count: 2, seed: 3, canvasSize: 64 });
    const batch = new DataLoader(task, { batchSize: 2, shuffle: false }).batch(0, 0);
    const backbone = new MobileNetV2(mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: null, head: false }), { rng: rng() });
    const K = task.numClasses;
    const head = new SimpleBaselineHead({ inChannels: backbone.arch.stages[backbone.arch.stages.length - 1].out, numKeypoints: K, channels: 16 });
    const t = batch.targets as { keypoints: Float32Array; visible: Uint8Array };
    const maps = new Float32Array(2 * K * 16 * 16);
    const weights = new Float32Array(2 * K);
    for (let i = 0; i < 2; i++) {
      const h = heatmapTargets(t.keypoints.subarray(i * 2 * K, (i + 1) * 2 * K), t.visible.subarray(i * K, (i + 1) * K), K, [16, 16], 4);
      maps.set(h.heatmaps, i * K * 256);
      weights.set(h.weights, i * K);
    }
    const losses = await trainSteps([backbone, head], () => {
      const { stages } = backbone.features(fromArray(batch.images, batch.shape));
      const heat = head.forward(stages[stages.length - 1]);
      expect(heat.shape).toEqual([2, K, 16, 16]); // stride 32 features, three 2x deconvolutions
      return heatmapMseLoss(heat, fromArray(maps, [2, K, 16, 16]), fromArray(weights, [2, K]));
    }, 6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    backbone.dispose();
    head.dispose();
    expect(memory().live).toBe(before);
  });
});
