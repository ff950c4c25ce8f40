// Public API of the engine.
export { init, shutdown, sync, memory, trimPool, runtime, isInitialised } from './runtime.ts';
export { getGpu, NoAdapterError, GpuError, type DeviceOptions, type GpuContext } from './device/device.ts';
export type { MemoryInfo } from './device/buffers.ts';
export { Tensor, allocate } from './tensor.ts';
export { tidy, keep } from './scope.ts';
export { apply, backward, noGrad, enableGrad, isGradEnabled, detach, type FunctionDef, type GradCtx } from './autograd.ts';
export { Kernel, KernelFamily, grid1d } from './kernel.ts';
export * from './host.ts';
export * from './ops/creation.ts';
export * from './ops/movement.ts';
export * from './ops/reduce.ts';
export * from './ops/arithmetic.ts';
export { map, broadcastShapes } from './ops/map.ts';
