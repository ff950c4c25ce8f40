// Runs once in the main vitest process: fail fast, with the real reason, when there is no adapter.
import { getGpu, shutdown } from '../../engine/device/device.ts';

export async function setup(): Promise<void> {
  const ctx = await getGpu();
  const i = ctx.adapterInfo;
  console.log(`[fna-webgpu] tests run on: ${i.vendor} ${i.architecture} ${i.description || i.device} (${ctx.backend}${ctx.isSoftware ? ', software' : ''})`);
  await shutdown();
}

export async function teardown(): Promise<void> {
  await shutdown();
}
