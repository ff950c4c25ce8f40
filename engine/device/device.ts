// The one place that creates the GPU. Everything else asks `getDevice()`.
//
// Dawn's `gpu` object is kept in a module-level variable for the life of the process: a local one has
// crashed the process after some hundreds of submits. `shutdown()` destroys the device and drops that
// reference so Node can exit (Dawn keeps the event loop alive while the `gpu` object is reachable).
import { create, globals } from 'webgpu';
import { plainDawnPolling, politeDawnPolling } from './polling.ts';

// GPUBufferUsage, GPUMapMode, ... as globals, before any module reads them.
Object.assign(globalThis, globals);

export interface DeviceOptions {
  /** Dawn backend: 'vulkan', 'metal', 'd3d12', 'opengl', 'null', ... Default: env FNA_BACKEND, else Dawn's choice. */
  backend?: string;
  /** Adapter name as Dawn lists it (substring match is Dawn's). Default: env FNA_ADAPTER. */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn toggles, e.g. ['enable-dawn-features=dump_shaders']. */
  dawnFlags?: string[];
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  backend: string;
  isSoftware: boolean;
  features: Set<string>;
  limits: GPUSupportedLimits;
}

/** Thrown when no device could be created; the message says what is missing and how to get it. */
export class NoAdapterError extends Error {
  override name = 'NoAdapterError';
}

/** A GPU validation, out-of-memory or device-lost error, tagged with the kernel that caused it. */
export class GpuError extends Error {
  override name = 'GpuError';
}

let gpu: GPU | null = null; // must stay global, see above
let context: Promise<GpuContext> | null = null;
let lastKernel = '(none yet)';
let asyncErrors: GpuError[] = [];

/** Called by the dispatcher so asynchronous GPU errors can name the kernel in flight. */
export function noteKernel(name: string): void {
  lastKernel = name;
}

/**
 * Queues an error found asynchronously (an error scope around a create call) so the next sync point throws
 * it. It goes first: it is the cause, and the uncaptured "invalid due to a previous error" ones follow it.
 */
export function reportGpuError(err: GpuError): void {
  asyncErrors.unshift(err);
}

const openChecks = new Set<Promise<unknown>>();
/** Registers a pending error-scope check; sync points wait for it before throwing what it found. */
export function trackGpuCheck(check: Promise<unknown>): void {
  openChecks.add(check);
  check.finally(() => openChecks.delete(check)).catch(() => undefined);
}

/** Waits for every pending error-scope check (compiles), so their errors are queued before a sync throws. */
export async function settleGpuChecks(): Promise<void> {
  while (openChecks.size) await Promise.allSettled([...openChecks]);
}

/** Errors raised by Dawn after the fact (uncapturederror, device lost) are thrown at the next sync point. */
export function throwPendingGpuError(): void {
  const err = asyncErrors.shift();
  if (err) {
    asyncErrors = [];
    throw err;
  }
}

const LIMITS_WE_USE: (keyof GPUSupportedLimits)[] = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
];
const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

function driverHint(): string {
  return (
    'No WebGPU adapter was found. On a machine without a GPU, install Mesa\'s software Vulkan driver ' +
    '(lavapipe, Mesa >= 23): run `bash scripts/setup.sh` (as root), or by hand on Debian bookworm ' +
    '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`; make sure XDG_RUNTIME_DIR is set. ' +
    'To pick a backend or adapter, set FNA_BACKEND (e.g. vulkan) or FNA_ADAPTER.'
  );
}

// Dawn rounds timestamp-query values down to multiples of 2^16 ns (65.5 us) unless its
// `timestamp_quantization` toggle is off: a per-kernel profile of 10-100 us kernels would be mostly rounding.
// A browser keeps the rounding against timing attacks; a headless process timing its own kernels has no need.
function withPreciseTimestamps(userFlags: string[]): string[] {
  const key = 'disable-dawn-features=';
  const flags = userFlags.filter((f) => !f.startsWith(key));
  const disabled = userFlags.filter((f) => f.startsWith(key)).flatMap((f) => f.slice(key.length).split(',')).filter(Boolean);
  if (!disabled.includes('timestamp_quantization')) disabled.push('timestamp_quantization');
  return [...flags, key + disabled.join(',')];
}

async function createContext(opts: DeviceOptions): Promise<GpuContext> {
  process.env.XDG_RUNTIME_DIR ??= `/tmp/xdg-runtime-${process.getuid?.() ?? 0}`;
  const backend = opts.backend ?? process.env.FNA_BACKEND;
  const adapterName = opts.adapter ?? process.env.FNA_ADAPTER;
  const flags = withPreciseTimestamps(opts.dawnFlags ?? []);
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);
  gpu = create(flags);

  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    // Dawn rejects with "no suitable backends found\nAvailable adapters: ..." for an unknown name.
    const detail = String((e as Error).message ?? e).replace(/\s+/g, ' ').trim();
    gpu = null;
    const wanted = [backend && `backend '${backend}'`, adapterName && `adapter '${adapterName}'`]
      .filter(Boolean)
      .join(' and ');
    throw new NoAdapterError(`No WebGPU adapter matches ${wanted || 'the request'}: Dawn says "${detail}".`);
  }
  if (!adapter) {
    gpu = null;
    if (backend || adapterName) {
      throw new NoAdapterError(
        `No WebGPU adapter for backend '${backend ?? 'any'}'${adapterName ? ` and adapter '${adapterName}'` : ''}; ` +
          'unset FNA_BACKEND/FNA_ADAPTER to let Dawn choose. ' + driverHint(),
      );
    }
    throw new NoAdapterError(driverHint());
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_WE_USE) requiredLimits[name] = adapter.limits[name] as number;
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });

  device.addEventListener('uncapturederror', (ev) => {
    const error = (ev as GPUUncapturedErrorEvent).error;
    asyncErrors.push(new GpuError(`GPU error in kernel '${lastKernel}': ${error.message}`));
  });
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') {
      asyncErrors.push(new GpuError(`GPU device lost (${info.reason}) near kernel '${lastKernel}': ${info.message}`));
    }
  });

  const info = adapter.info;
  const description = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const isSoftware = /llvmpipe|lavapipe|swiftshader|software|warp/.test(description);
  if (isSoftware && process.env.FNA_BUSY_POLL !== '1') politeDawnPolling();
  return {
    device,
    adapterInfo: info,
    backend: backend ?? guessBackend(description),
    isSoftware,
    features: new Set([...device.features]),
    limits: device.limits,
  };
}

function guessBackend(description: string): string {
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return description.includes('opengl') ? 'opengl' : 'vulkan';
}

/** The shared GPU device; created on first use. Options apply only to the first call after startup or shutdown. */
export function getGpu(opts: DeviceOptions = {}): Promise<GpuContext> {
  if (!context) {
    context = createContext(opts);
    context.catch(() => {
      context = null;
    });
  }
  return context;
}

/** Dawn's `GPU` object while a device exists (for a peer library, e.g. tfjs in bench/, that wants `navigator.gpu`). */
export function dawnGpu(): GPU | null {
  return gpu;
}

export async function getDevice(opts: DeviceOptions = {}): Promise<GPUDevice> {
  return (await getGpu(opts)).device;
}

/** True once a device exists (used by code that must not create one as a side effect). */
export function hasDevice(): boolean {
  return context !== null;
}

const shutdownHooks: (() => void)[] = [];
/** Lets the buffer pool and pipeline cache drop their GPU objects when the device goes away. */
export function onShutdown(hook: () => void): void {
  shutdownHooks.push(hook);
}

/** Destroys the device and releases Dawn so the Node process can exit by itself. Safe to call twice. */
export async function shutdown(): Promise<void> {
  const pending = context;
  context = null;
  if (pending) {
    const ctx = await pending.catch(() => null);
    for (const hook of shutdownHooks) hook();
    if (ctx) {
      await ctx.device.queue.onSubmittedWorkDone().catch(() => undefined);
      ctx.device.destroy();
    }
  }
  asyncErrors = [];
  gpu = null;
  plainDawnPolling();
}
