// Per-kernel GPU time of one call, ours (engine profiler) or tfjs's (tf.profile), kept in the report to
// explain a result.
import { startProfiling, stopProfiling, sync, tidy } from '../engine/index.ts';
import type { TfjsPeer } from './peers/tfjs.ts';
import type { KernelProfile } from './suite.ts';

/** One call of `record` with every dispatch in its own timed pass; also times recording it unprofiled. */
export async function profileOurs(title: string, record: () => void): Promise<KernelProfile> {
  await sync();
  let t0 = performance.now();
  tidy(record);
  const recordMs = performance.now() - t0;
  await sync();
  t0 = performance.now();
  startProfiling();
  tidy(record);
  const kernels = await stopProfiling();
  return { title, library: 'ours', wallMs: performance.now() - t0, recordMs, kernels };
}

/** One tfjs call under tf.profile: each kernel timed with timestamp queries. */
export async function profileTfjs(peer: TfjsPeer, title: string, record: () => void): Promise<KernelProfile> {
  const t0 = performance.now();
  const info = await peer.tf.profile(() => {
    record();
    return [];
  });
  peer.flush();
  const byKernel = new Map<string, { calls: number; totalMs: number }>();
  for (const k of info.kernels) {
    const entry = byKernel.get(k.name) ?? { calls: 0, totalMs: 0 };
    entry.calls++;
    entry.totalMs += Number(k.kernelTimeMs) || 0;
    byKernel.set(k.name, entry);
  }
  const kernels = [...byKernel].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.totalMs - a.totalMs);
  return { title, library: `tfjs-webgpu ${peer.version}`, wallMs: performance.now() - t0, kernels };
}
