// Tensor specs of the building blocks shared by every arch family (PyTorch key suffixes and order).
import type { StateDictShapes, TensorSpec } from './types.ts';

export function convSpec(out: number, inPerGroup: number, kernel: number): TensorSpec {
  return { shape: [out, inPerGroup, kernel, kernel], dtype: 'float32', init: 'conv' };
}

/** Affine, tracked BatchNorm2d: weight, bias, running_mean, running_var, num_batches_tracked. */
export function addBatchNorm(shapes: StateDictShapes, prefix: string, channels: number): void {
  shapes.set(`${prefix}.weight`, { shape: [channels], dtype: 'float32', init: 'bn_weight' });
  shapes.set(`${prefix}.bias`, { shape: [channels], dtype: 'float32', init: 'bn_bias' });
  shapes.set(`${prefix}.running_mean`, { shape: [channels], dtype: 'float32', init: 'bn_mean' });
  shapes.set(`${prefix}.running_var`, { shape: [channels], dtype: 'float32', init: 'bn_var' });
  shapes.set(`${prefix}.num_batches_tracked`, { shape: [], dtype: 'int32', init: 'count' });
}

export function addLinear(shapes: StateDictShapes, prefix: string, out: number, inFeatures: number): void {
  shapes.set(`${prefix}.weight`, { shape: [out, inFeatures], dtype: 'float32', init: 'linear' });
  shapes.set(`${prefix}.bias`, { shape: [out], dtype: 'float32', init: 'linear' });
}
