// Image classification training with progress, per-epoch evaluation and checkpoints (resumable).
import { existsSync } from 'node:fs';
import { backward, noGrad } from '../../engine/autograd.ts';
import { fromArray } from '../../engine/ops/creation.ts';
import { crossEntropy } from '../../engine/ops/loss.ts';
import { tidy } from '../../engine/scope.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Module } from '../../engine/nn/module.ts';
import { SGD } from '../../engine/optim/sgd.ts';
import { AdamW } from '../../engine/optim/adam.ts';
import { DataLoader } from '../data/loader.ts';
import type { ClassTarget, Dataset } from '../data/types.ts';
import { Progress } from '../report/progress.ts';
import { loadOptimizerState, optimizerPath, saveOptimizerState } from './checkpoint.ts';

export interface ClassifierModel extends Module {
  forward(x: Tensor): Tensor;
}

export interface ClassifyOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** 'sgd': Nesterov momentum (default); 'adamw': decoupled weight decay. */
  optimizer?: 'sgd' | 'adamw';
  momentum?: number;
  weightDecay?: number;
  /** Linear warm-up steps from lr/10, then cosine decay to 0 over the run. */
  warmupSteps?: number;
  seed?: number;
  label?: string;
  /** Called after every epoch (e.g. to save a checkpoint); gets the epoch (1-based) and test accuracy. */
  onEpoch?: (epoch: number, testAccuracy: number, history: EpochRecord[]) => Promise<void>;
  /** Checkpoint path whose optimizer file (and `epoch` metadata) a run resumes from, when present. */
  resumeFrom?: string;
  quiet?: boolean;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  testAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
}

function cosineLr(step: number, total: number, base: number, warmup: number): number {
  if (step < warmup) return base * (0.1 + (0.9 * step) / warmup);
  return 0.5 * base * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup)));
}

export async function evaluateClassifier(model: ClassifierModel, ds: Dataset<ClassTarget>, batchSize = 256): Promise<number> {
  const loader = new DataLoader(ds, { batchSize, shuffle: false });
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  for await (const b of loader.epoch(0)) {
    const logits = noGrad(() => tidy(() => model.forward(fromArray(b.images, b.shape))));
    const scores = await logits.toArray();
    logits.dispose();
    const labels = (b.targets as { labels: Int32Array }).labels;
    const classes = scores.length / labels.length;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (scores[i * classes + c] > scores[i * classes + best]) best = c;
      if (best === labels[i]) correct++;
    }
  }
  model.train(wasTraining);
  return correct / ds.length;
}

export async function trainClassifier(
  model: ClassifierModel,
  train: Dataset<ClassTarget>,
  test: Dataset<ClassTarget>,
  o: ClassifyOptions,
): Promise<EpochRecord[]> {
  const loader = new DataLoader(train, { batchSize: o.batchSize, shuffle: true, seed: o.seed ?? 0, dropLast: true });
  const opt =
    o.optimizer === 'adamw'
      ? new AdamW(model.parameters(), { lr: o.lr, weightDecay: o.weightDecay ?? 1e-2 })
      : new SGD(model.parameters(), { lr: o.lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 4e-5, nesterov: true });
  const steps = loader.batchesPerEpoch;
  const total = o.epochs * steps;
  const warmup = o.warmupSteps ?? Math.min(200, steps);
  let startEpoch = 0;
  const history: EpochRecord[] = [];
  if (o.resumeFrom && existsSync(optimizerPath(o.resumeFrom))) {
    const { state, metadata } = await loadOptimizerState(optimizerPath(o.resumeFrom));
    (opt as SGD).loadStateDict(state as Parameters<SGD['loadStateDict']>[0]);
    startEpoch = Number(metadata.epoch ?? 0);
    history.push(...(JSON.parse(metadata.history ?? '[]') as EpochRecord[]));
    if (!o.quiet) console.error(`[${o.label ?? 'train'}] resuming after epoch ${startEpoch}`);
  }
  const progress = new Progress({ total, label: o.label ?? 'train' });
  model.train();
  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0;
    let lossCount = 0;
    let k = 0;
    let sinceUpdate = 0;
    for await (const b of loader.epoch(epoch)) {
      const step = epoch * steps + k + 1;
      for (const g of opt.groups) g.lr = cosineLr(step - 1, total, o.lr, warmup);
      const labels = (b.targets as { labels: Int32Array }).labels;
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(fromArray(b.images, b.shape)), fromArray(labels, [labels.length], { dtype: 'int32' }));
        opt.zeroGrad();
        backward(l);
        opt.step();
        return l;
      });
      // Reading the loss every step would stall the queue; every 20th is enough for the curve.
      sinceUpdate++;
      if (k % 20 === 0 || k === steps - 1) {
        const v = await loss.item();
        lossSum += v;
        lossCount++;
        if (!o.quiet) progress.update(step, { epoch: `${epoch + 1}/${o.epochs}`, loss: v, lr: opt.groups[0].lr }, sinceUpdate * o.batchSize);
        sinceUpdate = 0;
      }
      loss.dispose();
      k++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const testAccuracy = await evaluateClassifier(model, test);
    const record = { epoch: epoch + 1, trainLoss: lossSum / Math.max(1, lossCount), testAccuracy, seconds, imagesPerSecond: (steps * o.batchSize) / seconds };
    history.push(record);
    if (!o.quiet) {
      console.error(
        `[${o.label ?? 'train'}] epoch ${epoch + 1}/${o.epochs}: train loss ${record.trainLoss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}%, ${seconds.toFixed(0)} s, ${record.imagesPerSecond.toFixed(0)} img/s`,
      );
    }
    await o.onEpoch?.(epoch + 1, testAccuracy, history);
    if (o.resumeFrom) await saveOptimizerState(optimizerPath(o.resumeFrom), await opt.stateDict(), { epoch: epoch + 1, history });
  }
  opt.dispose();
  return history;
}
