// Element-wise ops through the engine (add, mul, relu, exp, broadcast add): GB/s as a fraction of the
// copy kernel's bandwidth measured earlier in the same run.
import { add, exp, fromArray, mul, relu, type Tensor } from '../../engine/index.ts';
import type { BenchContext, BenchRow, Suite } from '../suite.ts';
import { rowFrom } from '../suite.ts';
import { timeGpu } from '../timing.ts';
import { COPY_CEILING } from './copy.ts';

function filled(n: number, shape: number[]): Tensor {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 2;
  return fromArray(data, shape);
}

export const elementwiseSuite: Suite = {
  name: 'elementwise',
  description: 'engine element-wise ops on float32; GB/s counts every input element read and output written once',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const n = ctx.quick ? 1 << 20 : 1 << 22;
    const cols = 1024;
    const x = filled(n, [n]);
    const y = filled(n, [n]);
    const matrix = filled(n, [n / cols, cols]);
    const row = filled(cols, [cols]);
    const cases: [string, string, () => Tensor, number][] = [
      ['add', `[${n}] + [${n}]`, () => add(x, y), 3 * n],
      ['mul', `[${n}] * [${n}]`, () => mul(x, y), 3 * n],
      ['relu', `[${n}]`, () => relu(x), 2 * n],
      ['exp', `[${n}]`, () => exp(x), 2 * n],
      ['broadcast add', `[${n / cols}, ${cols}] + [${cols}]`, () => add(matrix, row), 2 * n + cols],
    ];
    const rows: BenchRow[] = [];
    try {
      for (const [name, shape, op, elements] of cases) {
        const timing = await timeGpu(op, { runs: ctx.quick ? 5 : 10 });
        rows.push(rowFrom(timing, { suite: 'elementwise', name, shape, work: 4 * elements, unit: 'GB/s', ceiling: COPY_CEILING }));
        ctx.log(`${name} ${shape}: ${rows[rows.length - 1].value.toFixed(2)} GB/s`);
      }
    } finally {
      for (const t of [x, y, matrix, row]) t.dispose();
    }
    return rows;
  },
};
