// Per-kernel GPU time of one MobileNetV2 training step (SGD, cross-entropy), from timestamp queries.
//   npx tsx scripts/profile-step.ts [--width 0.5] [--batch 64] [--size 32]
import { backward, crossEntropy, formatKernelTimes, fromArray, init, shutdown, startProfiling, stopProfiling, sync, tidy } from '../engine/index.ts';
import { HostRng } from '../engine/nn/init.ts';
import { SGD } from '../engine/optim/index.ts';
import { mobilenetV2Arch } from '../fna/arch/index.ts';
import { MobileNetV2 } from '../fna/models/mobilenet.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const [width, batch, size] = [arg('width', 0.5), arg('batch', 64), arg('size', 32)];
await init();
const model = new MobileNetV2(mobilenetV2Arch({ widthMultiplier: width, numClasses: 10, inputChannels: arg("channels", 3) }), { rng: new HostRng(1) });
const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const rng = new HostRng(2);
const x = new Float32Array(batch * arg("channels", 3) * size * size).map(() => rng.normal());
const y = new Int32Array(batch).map(() => Math.floor(rng.uniform() * 10));
const step = () =>
  tidy(() => {
    const l = crossEntropy(model.forward(fromArray(x, [batch, arg("channels", 3), size, size])), fromArray(y, [batch], { dtype: 'int32' }));
    opt.zeroGrad();
    backward(l);
    opt.step();
    return l;
  });
for (let i = 0; i < 2; i++) (await step().item(), undefined);
await sync();
const t0 = performance.now();
const l = step();
await l.item();
l.dispose();
console.log(`wall time of one step (batched): ${(performance.now() - t0).toFixed(1)} ms`);
startProfiling();
const l2 = step();
await l2.item();
l2.dispose();
console.log(formatKernelTimes(await stopProfiling(), 30));
opt.dispose();
model.dispose();
await shutdown();
