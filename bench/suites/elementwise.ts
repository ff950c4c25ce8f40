// Element-wise ops through the engine (add, mul, relu, exp, broadcast add), ours against tfjs-webgpu:
// GB/s as a fraction of the copy kernel's bandwidth measured earlier in the same run.
import { add, exp, mul, relu, type Tensor } from '../../engine/index.ts';
import { engineTensor, measure, noise, withTensors, withTfjs } from '../compare.ts';
import type { TfModule } from '../peers/tfjs.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { COPY_CEILING, copyProbe } from './copy.ts';

type TfT = ReturnType<TfModule['tensor']>;

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
        const cases: [string, string, () => Tensor, ((tf: TfModule, t: Record<string, TfT>) => TfT), number][] = [
          ['add', `[${n}] + [${n}]`, () => add(x, y), (tf, t) => tf.add(t.x, t.y), 3 * n],
          ['mul', `[${n}] * [${n}]`, () => mul(x, y), (tf, t) => tf.mul(t.x, t.y), 3 * n],
          ['relu', `[${n}]`, () => relu(x), (tf, t) => tf.relu(t.x), 2 * n],
          ['exp', `[${n}]`, () => exp(x), (tf, t) => tf.exp(t.x), 2 * n],
          ['broadcast add', `[${n / cols}, ${cols}] + [${cols}]`, () => add(matrix, row), (tf, t) => tf.add(t.matrix, t.row), 2 * n + cols],
        ];
        const probed = new Set<string>();
        for (const [name, shape, ours, theirs, elements] of cases) {
          rows.push(
            await measure(ctx, {
              suite: 'elementwise', name, shape, work: 4 * elements, unit: 'GB/s', ceiling: COPY_CEILING,
              ours,
              tfjs: t ? (tf) => theirs(tf, t) : undefined,
              opts: { runs: ctx.quick ? 5 : 10 },
            }),
          );
          if (!probed.has(shape)) rows.push(await copyProbe('elementwise', shape, 4 * elements, { runs: ctx.quick ? 5 : 10 }));
          probed.add(shape);
        }
      }),
    );
    return rows;
  },
};
