// Batch norm in training mode (batch statistics, affine), forward and forward+backward, ours against tfjs
// (tf.moments + tf.batchNorm; tf.grads for the backward), in both regimes. GB/s counts x read and y written
// once (forward), plus dy read and dx written once (backward): the least a two-pass algorithm must move.
//
// What limits it is shown by a per-kernel profile of each call: our forward is three passes (per-channel
// partial statistics, a per-channel finalize, the element-wise apply), so it reads x twice for the one read
// counted here; the backward likewise reads x and dy twice. Rows on the one-invocation-a-channel path (few elements a
// channel) are also timed against the least kernels with that access (norm-probe.ts).
import { backward, batchNorm2d } from '../../engine/index.ts';
import { clearGrads, engineTensor, noise, regimes, withTensors, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import { type BenchContext, type BenchRow, type Suite } from '../suite.ts';
import { profileOurs } from '../profile.ts';
import { COPY_CEILING, measureWithCopy } from './copy.ts';
import { tuning } from '../../engine/tuning.ts';
import { BN_CHANNEL_MAX } from '../../kernels/batchnorm-channel.ts';
import { leastChannelProbe } from './norm-probe.ts';

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

export const batchNormSuite: Suite = {
  name: 'batchnorm',
  description:
    'batch norm, training mode (batch statistics, affine), forward and forward+backward; tfjs-webgpu: tf.moments + tf.batchNorm, ' +
    'tf.grads; GB/s counts x, y (and dy, dx) once each; per-kernel profiles of our passes are in the profiles section',
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
        const opts = { warmup: 1, runs: ctx.quick ? 2 : 25 };
        const makeTf = (tf: TfModule) => ({
          x: tf.tensor(noise(count, 1), [r.batch, side, side, c]),
          gamma: tf.tensor(noise(c, 2)),
          beta: tf.tensor(noise(c, 3)),
          dy: tf.tensor(noise(count, 4), [r.batch, side, side, c]),
        });
        const forward = () => void batchNorm2d(x, { weight, bias, training: true });
        const forwardBackward = () => {
          for (const l of leaves) l.requiresGrad = true;
          backward(batchNorm2d(x, { weight, bias, training: true }), dy);
          clearGrads(leaves);
          for (const l of leaves) l.requiresGrad = false;
        };
        await withTensors([x, weight, bias, dy], () =>
          withTfjs(ctx, makeTf, async (t) => {
            // The streams each dispatch moves, by the path engine/ops/norm.ts takes (one invocation a channel
            // on a software adapter for channels of at most BN_CHANNEL_MAX elements); the targets report
            // checks them against the kernel profile before it leans on the probe.
            const perChannel = tuning() !== 'gpu' && count / c <= BN_CHANNEL_MAX;
            const streams = perChannel ? [[3], [3, 5]] : [[1, 2], [1, 2, 2, 3]];
            const moved = (i: number) => streams[i].map((k) => k * count * 4);
            // On the one-invocation-a-channel path, also the least kernels with its access (bench/suites/norm-probe.ts).
            const least = (name: string, withDy: boolean, work: number) => (perChannel ? [leastChannelProbe(name, x, withDy ? dy : null, work)] : []);
            const fwdLeast = least('batch norm fwd', false, 2 * count * 4);
            const bwdLeast = least('batch norm fwd+bwd', true, 5 * count * 4);
            try {
              rows.push(
                ...(await measureWithCopy(ctx, {
                  suite: 'batchnorm', name: 'batch norm fwd', shape: label, work: 2 * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
                  ours: forward,
                  tfjs: t ? (tf) => tfjsBatchNorm(tf, t.x, t.gamma, t.beta) : undefined,
                  probes: fwdLeast,
                  opts,
                }, moved(0))),
              );
              rows.push(
                ...(await measureWithCopy(ctx, {
                  suite: 'batchnorm', name: 'batch norm fwd+bwd', shape: label, work: 5 * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
                  ours: forwardBackward,
                  tfjs: t ? (tf) => tf.grads((a, g, b) => tfjsBatchNorm(tf, a, g, b))([t.x, t.gamma, t.beta], t.dy) : undefined,
                  probes: bwdLeast,
                  opts,
                }, moved(1))),
              );
            } finally {
              for (const p of [...fwdLeast, ...bwdLeast]) p.dispose();
            }
            ctx.profiles.push(await profileOurs(`batch norm fwd ${label}`, forward));
            ctx.profiles.push(await profileOurs(`batch norm fwd+bwd ${label}`, forwardBackward));
          }),
        );
      }
    }
    return rows;
  },
};
