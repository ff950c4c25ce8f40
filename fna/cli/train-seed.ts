// `fna train-seed`: trains a MobileNetV2 seed on MNIST or Fashion-MNIST (our stand-in for ImageNet
// pre-training) and saves a checkpoint with its architecture spec and accuracy, plus a JSON history and
// an SVG learning curve beside it. Re-running the same command resumes after the last finished epoch.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { init } from '../../engine/runtime.ts';
import { HostRng } from '../../engine/nn/init.ts';
import { mobilenetV2Arch } from '../arch/mobilenet.ts';
import { createClassificationTask } from '../data/classification.ts';
import { loadDataset, type DatasetName } from '../data/datasets.ts';
import { MobileNetV2 } from '../models/mobilenet.ts';
import { lineChart } from '../report/svg-plot.ts';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.ts';
import { trainClassifier } from '../train/classify.ts';
import { padDataset } from '../train/padded.ts';
import { parseFlags, UsageError } from './args.ts';
import { existsSync } from 'node:fs';

const FLAGS = {
  dataset: { type: 'string', default: 'mnist', help: 'mnist or fashion-mnist' },
  width: { type: 'number', default: 0.5, help: 'MobileNetV2 width multiplier' },
  size: { type: 'number', default: 32, help: 'input size (images are centre-padded)' },
  epochs: { type: 'number', default: 3, help: 'training epochs' },
  batch: { type: 'number', default: 64, help: 'batch size' },
  optimizer: { type: 'string', default: 'sgd', help: 'sgd (Nesterov momentum 0.9) or adamw' },
  lr: { type: 'number', default: 0.02, help: 'peak learning rate (linear warm-up, then cosine to 0)' },
  seed: { type: 'number', default: 0, help: 'random seed' },
  out: { type: 'string', default: 'runs/seed-mnist.safetensors', help: 'checkpoint path' },
  'train-limit': { type: 'number', default: 0, help: 'use only the first N training images (0: all)' },
  'test-limit': { type: 'number', default: 0, help: 'evaluate on only the first N test images (0: all)' },
} as const;

export async function trainSeedCommand(argv: string[]): Promise<number> {
  const f = parseFlags('train-seed', argv, FLAGS);
  if (f.dataset !== 'mnist' && f.dataset !== 'fashion-mnist') throw new UsageError(`--dataset must be mnist or fashion-mnist`);
  if (f.optimizer !== 'sgd' && f.optimizer !== 'adamw') throw new UsageError(`--optimizer must be sgd or adamw`);
  await init();
  const name = f.dataset as DatasetName;
  const full = padDataset(createClassificationTask(loadDataset(name, 'train')), f.size);
  const train = f['train-limit'] > 0 ? { ...full, length: Math.min(full.length, f['train-limit']) } : full;
  const fullTest = padDataset(createClassificationTask(loadDataset(name, 'test')), f.size);
  const test = f['test-limit'] > 0 ? { ...fullTest, length: Math.min(fullTest.length, f['test-limit']) } : fullTest;
  const arch = mobilenetV2Arch({ widthMultiplier: f.width, numClasses: train.numClasses, inputChannels: train.imageShape[0] });
  const model = new MobileNetV2(arch, { rng: new HostRng(f.seed) });
  if (existsSync(f.out)) {
    const ck = await loadCheckpoint(f.out);
    model.loadStateDict(ck.stateDict);
  }
  mkdirSync(dirname(f.out) || '.', { recursive: true });
  const t0 = performance.now();
  console.error(`[train-seed] MobileNetV2 x${f.width} (${(model.parameterCount() / 1e6).toFixed(2)}M parameters) on ${name} ${f.size}x${f.size}, ${train.length} training images`);
  const history = await trainClassifier(model, train, test, {
    epochs: f.epochs,
    batchSize: f.batch,
    lr: f.lr,
    optimizer: f.optimizer as 'sgd' | 'adamw',
    seed: f.seed,
    label: 'train-seed',
    resumeFrom: f.out,
    onEpoch: async (epoch, accuracy, hist) => {
      await saveCheckpoint(f.out, arch, await model.stateDict(), { dataset: name, inputSize: f.size, epoch, testAccuracy: accuracy });
      const base = f.out.replace(/\.safetensors$/, '');
      writeFileSync(`${base}.history.json`, JSON.stringify({ dataset: name, width: f.width, size: f.size, history: hist }, null, 2));
      writeFileSync(
        `${base}.curve.svg`,
        lineChart(
          [
            { name: 'train loss', points: hist.map((h) => [h.epoch, h.trainLoss]) },
            { name: 'test error', points: hist.map((h) => [h.epoch, 1 - h.testAccuracy]) },
          ],
          { title: `MobileNetV2 x${f.width} seed on ${name}`, xLabel: 'epoch', yLabel: 'loss / error', logY: true },
        ),
      );
    },
  });
  const last = history[history.length - 1];
  const minutes = (performance.now() - t0) / 60000;
  console.log(`seed checkpoint ${f.out}: test accuracy ${(100 * (last?.testAccuracy ?? NaN)).toFixed(2)}% after ${history.length} epochs (${minutes.toFixed(1)} min this run)`);
  model.dispose();
  return 0;
}
