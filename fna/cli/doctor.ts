// `fna doctor`: what adapter we got, what it can do, and one real kernel checked against the CPU.
import { init } from '../../engine/runtime.ts';
import { add } from '../../engine/ops/arithmetic.ts';
import { fromArray } from '../../engine/ops/creation.ts';

export async function doctor(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const rt = await init();
  const { ctx } = rt;
  const info = ctx.adapterInfo;
  const limits: Record<string, number> = {};
  for (const k of [
    'maxStorageBuffersPerShaderStage',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupsPerDimension',
  ] as const) {
    limits[k] = ctx.limits[k];
  }

  // Element-wise add over more than 65535 workgroups (a 2-D grid), compared with the CPU.
  const n = (1 << 24) + 7;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = (i % 1009) * 0.25;
    b[i] = (i % 7) - 3;
  }
  const t0 = performance.now();
  const ta = fromArray(a);
  const tb = fromArray(b);
  const sum = add(ta, tb);
  const out = await sum.toArray();
  const ms = performance.now() - t0;
  let mismatches = 0;
  for (let i = 0; i < n; i++) if (out[i] !== a[i] + b[i]) mismatches++;
  for (const t of [ta, tb, sum]) t.dispose();

  const report = {
    adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    backend: ctx.backend,
    software: ctx.isSoftware,
    features: [...ctx.features].sort(),
    limits,
    kernelCheck: { kernel: 'add', elements: n, mismatches, milliseconds: Math.round(ms) },
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ');
    console.log(`adapter   ${name}`);
    console.log(`backend   ${ctx.backend}${ctx.isSoftware ? ' (software rasteriser)' : ''}`);
    console.log(`features  ${report.features.join(', ') || '(none)'}`);
    for (const [k, v] of Object.entries(limits)) console.log(`limit     ${k} = ${v}`);
    console.log(
      `kernel    add of ${n} elements (2-D grid of workgroups): ${mismatches === 0 ? 'matches the CPU' : `${mismatches} MISMATCHES`} in ${report.kernelCheck.milliseconds} ms including upload and readback`,
    );
  }
  return mismatches === 0 ? 0 : 1;
}
