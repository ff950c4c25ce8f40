// tfjs-webgpu (@tensorflow/tfjs + @tensorflow/tfjs-backend-webgpu, dev dependencies used only here) on the
// engine's own Dawn device, so both libraries run on the same adapter and queue in the same process.
// tfjs needs `navigator.gpu` before its backend module loads; the backend is then re-registered on our
// device instead of a second one. WEBGPU_CPU_FORWARD off: small ops stay on the GPU, as ours do.
import type * as Tf from '@tensorflow/tfjs';
import { dawnGpu } from '../../engine/device/device.ts';
import { runtime } from '../../engine/runtime.ts';
import type { WorkDriver } from '../timing.ts';

export type TfModule = typeof Tf;

export interface TfjsPeer {
  tf: TfModule;
  version: string;
  /** A timing driver for `fn`: each call runs it in tf.tidy and disposes what it returns. */
  driver(fn: () => Tf.TensorContainer): WorkDriver;
  /** Submits everything tfjs has recorded. */
  flush(): void;
}

interface BackendInternals {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

let loaded: Promise<TfjsPeer> | null = null;

/** Loads tfjs on the engine's device once (the engine must be initialised). */
export function loadTfjs(): Promise<TfjsPeer> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<TfjsPeer> {
  const { device, adapterInfo } = runtime().ctx;
  const gpu = dawnGpu();
  if (!gpu) throw new Error('tfjs peer: the engine has no Dawn GPU object; call init() first');
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else g.navigator.gpu ??= gpu;
  const tf = (await import('@tensorflow/tfjs')) as TfModule;
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(device, adapterInfo), 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs peer: the webgpu backend did not initialise');
  await tf.ready();
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const backend = tf.backend() as unknown as BackendInternals;
  const batchSize = tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number;
  const flush = () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
  };
  return {
    tf,
    version: tf.version.tfjs,
    flush,
    driver: (fn) => ({
      call: () => tf.dispose(tf.tidy(fn)),
      flush,
      settle: () => device.queue.onSubmittedWorkDone(),
      // tfjs submits every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches (15); while held, only at flush.
      hold: (on) => tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', on ? Number.MAX_SAFE_INTEGER : batchSize),
    }),
  };
}
