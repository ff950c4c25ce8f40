// The FNA++ mixed op with K = 7 candidates (6 MBConvs + skip of a normal layer), forward and
// forward+backward (to every candidate and to alpha), ours against the same math in tfjs:
// softmax(alpha), then the sum of p_j * candidate_j (tf.addN of tf.mul), tf.grads for the backward.
// GB/s counts the least data moved: forward reads K candidates and writes the output; backward reads dy
// and the K candidates (for alpha's gradient) and writes K candidate gradients.
import { backward, mixedOp } from '../../engine/index.ts';
import { clearGrads, engineTensor, noise, regimes, withTensors, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import { profileOurs } from '../profile.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { MIXED_OP_MOVED } from '../targets.ts';
import { COPY_CEILING, measureWithCopy } from './copy.ts';

const K = 7;
/** Candidates are a stage-2 normal layer's output: 24 channels at 1/4 of the input side. */
const CHANNELS = 24;
const SCALE = 4;

type TfT = ReturnType<TfModule['tensor']>;

function tfjsMixed(tf: TfModule, alpha: TfT, cands: TfT[]): TfT {
  const p = tf.softmax(alpha);
  return tf.addN(cands.map((c, j) => tf.mul(c, tf.slice(p, [j], [1]))));
}

export const mixedOpSuite: Suite = {
  name: 'mixedop',
  description:
    'FNA++ mixed op, K = 7 candidates, forward and forward+backward (to candidates and alpha); tfjs-webgpu: softmax + addN of muls, ' +
    'tf.grads; GB/s counts K candidates + output (forward) and dy + K candidates + K gradients (backward) once each',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const r of regimes(ctx)) {
      const side = r.size / SCALE;
      const shape = [r.batch, CHANNELS, side, side];
      const count = shape.reduce((a, b) => a * b, 1);
      const label = `${r.label}: ${K} x [${shape.join(', ')}]`;
      const cands = Array.from({ length: K }, (_, j) => engineTensor(shape, j + 1));
      const alpha = engineTensor([K], 99);
      const dy = engineTensor(shape, 100);
      const leaves = [...cands, alpha];
      const opts = { warmup: 1, runs: ctx.quick ? 2 : 25 };
      const makeTf = (tf: TfModule) => ({
        cands: cands.map((_, j) => tf.tensor(noise(count, j + 1), [r.batch, side, side, CHANNELS])),
        alpha: tf.tensor(noise(K, 99)),
        dy: tf.tensor(noise(count, 100), [r.batch, side, side, CHANNELS]),
      });
      await withTensors([...leaves, dy], () =>
        withTfjs(ctx, makeTf, async (t) => {
          rows.push(
            ...(await measureWithCopy(ctx, {
              suite: 'mixedop', name: 'mixed op K=7 fwd', shape: label, work: (K + 1) * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
              ours: () => mixedOp(cands, alpha).out,
              tfjs: t ? (tf) => tfjsMixed(tf, t.alpha, t.cands) : undefined,
              opts,
            }, MIXED_OP_MOVED.fwd.map((streams) => streams * count * 4))),
          );
          const fwdBwd = () => {
            for (const l of leaves) l.requiresGrad = true;
            backward(mixedOp(cands, alpha).out, dy);
            clearGrads(leaves);
            for (const l of leaves) l.requiresGrad = false;
          };
          rows.push(
            ...(await measureWithCopy(ctx, {
              suite: 'mixedop', name: 'mixed op K=7 fwd+bwd', shape: label, work: (K + 1 + 1 + 2 * K) * count * 4, unit: 'GB/s', ceiling: COPY_CEILING,
              ours: fwdBwd,
              tfjs: t ? (tf) => tf.grads((a, ...cs) => tfjsMixed(tf, a, cs))([t.alpha, ...t.cands], t.dy) : undefined,
              opts,
            }, MIXED_OP_MOVED.fwdBwd.map((streams) => streams * count * 4))),
          );
          ctx.profiles.push(await profileOurs(`mixed op K=7 fwd+bwd ${label}`, fwdBwd));
        }),
      );
    }
    return rows;
  },
};
