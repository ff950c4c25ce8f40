// Quick timing printout of the conv kernels at MobileNetV2 shapes (not a test, not the bench suite):
//   npx tsx scripts/conv-timing.ts [reps]
// Prints cold (first call, includes pipeline compiles) and warm (best of reps) ms per pass, and GFLOP/s
// (2 flops per MAC) per wall second and per CPU second of this process. On a shared machine the best of
// several runs is the number to compare.
import { init, shutdown, sync, fromArray, noGrad, tidy, type Tensor } from '../engine/index.ts';
import { convForward, convInputGrad, convWeightGrad, type ConvGeometry } from '../engine/ops/conv-launch.ts';

interface Shape {
  name: string;
  n: number;
  c: number;
  hw: number;
  o: number;
  k: number;
  stride: number;
  groups: number;
  dilation?: number;
}

const SHAPES: Shape[] = [
  { name: 'stem 3->32 3x3 s2 @224', n: 1, c: 3, hw: 224, o: 32, k: 3, stride: 2, groups: 1 },
  { name: 'depthwise 32 3x3 s1 @112', n: 1, c: 32, hw: 112, o: 32, k: 3, stride: 1, groups: 32 },
  { name: 'depthwise 96 3x3 s2 @112', n: 1, c: 96, hw: 112, o: 96, k: 3, stride: 2, groups: 96 },
  { name: 'depthwise 144 5x5 s1 @56', n: 1, c: 144, hw: 56, o: 144, k: 5, stride: 1, groups: 144 },
  { name: 'depthwise 192 7x7 s1 @28', n: 1, c: 192, hw: 28, o: 192, k: 7, stride: 1, groups: 192 },
  { name: 'ASPP depthwise 256 3x3 d12 @33', n: 1, c: 256, hw: 33, o: 256, k: 3, stride: 1, groups: 256, dilation: 12 },
  { name: 'pointwise 32->192 @56', n: 1, c: 32, hw: 56, o: 192, k: 1, stride: 1, groups: 1 },
  { name: 'pointwise 192->32 @56', n: 1, c: 192, hw: 56, o: 32, k: 1, stride: 1, groups: 1 },
  { name: 'pointwise 320->1280 @7', n: 1, c: 320, hw: 7, o: 1280, k: 1, stride: 1, groups: 1 },
  { name: 'dense 16->16 3x3 s1 @56', n: 1, c: 16, hw: 56, o: 16, k: 3, stride: 1, groups: 1 },
];

function geometry(s: Shape): ConvGeometry {
  const d = s.dilation ?? 1;
  const pad = (d * (s.k - 1)) >> 1;
  const out = Math.floor((s.hw + 2 * pad - d * (s.k - 1) - 1) / s.stride) + 1;
  return {
    n: s.n, c: s.c, h: s.hw, w: s.hw, o: s.o, kh: s.k, kw: s.k, oh: out, ow: out, groups: s.groups,
    stride: [s.stride, s.stride], dilation: [d, d], padding: [pad, pad, pad, pad],
  };
}

const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

/** CPU time of this process (Dawn and lavapipe threads included): steadier than wall time on a shared machine. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Cold: the first call (pipeline compiles included). Warm: the best of `reps` calls, each synced. */
async function time(pass: () => Tensor, reps: number): Promise<{ cold: number; warm: number; warmCpu: number }> {
  const t0 = performance.now();
  noGrad(() => tidy(() => void pass()));
  await sync();
  const cold = performance.now() - t0;
  let warm = Infinity;
  let warmCpu = Infinity;
  for (let i = 0; i < reps; i++) {
    const t1 = performance.now();
    const c1 = cpuMs();
    noGrad(() => tidy(() => void pass()));
    await sync();
    warm = Math.min(warm, performance.now() - t1);
    warmCpu = Math.min(warmCpu, cpuMs() - c1);
  }
  return { cold, warm, warmCpu };
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 8);
  await init();
  const rows: string[] = [];
  const only = process.argv[3];
  for (const s of SHAPES.filter((s) => !only || s.name.includes(only))) {
    const g = geometry(s);
    const x = fromArray(random(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w]);
    const w = fromArray(random(g.o * (g.c / g.groups) * g.kh * g.kw), [g.o, g.c / g.groups, g.kh, g.kw]);
    const gy = fromArray(random(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow]);
    const flops = 2 * g.n * g.o * g.oh * g.ow * (g.c / g.groups) * g.kh * g.kw;
    const passes: [string, () => Tensor][] = [
      ['forward', () => convForward(g, x, w, null)],
      ['grad x', () => convInputGrad(g, gy, w)],
      ['grad w', () => convWeightGrad(g, x, gy)],
    ];
    for (const [pass, fn] of passes) {
      const { cold, warm, warmCpu } = await time(fn, reps);
      rows.push(
        `${s.name.padEnd(32)} ${pass.padEnd(7)} cold ${cold.toFixed(0).padStart(6)} ms | warm ${warm.toFixed(2).padStart(7)} ms ` +
          `${(flops / warm / 1e6).toFixed(2).padStart(6)} GFLOP/s | cpu ${warmCpu.toFixed(2).padStart(7)} ms ${(flops / warmCpu / 1e6).toFixed(2).padStart(6)} GFLOP/cpu-s`,
      );
      console.log(rows[rows.length - 1]);
    }
    for (const t of [x, w, gy]) t.dispose();
  }
  await shutdown();
}

await main();
