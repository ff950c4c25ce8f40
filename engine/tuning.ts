// Which kind of adapter the kernels' work splits are tuned for.
//
// A software adapter (lavapipe) runs a workgroup as a loop on one CPU thread over 8-lane SIMD groups: it
// pays per invocation and per storage load, so the kernels give each invocation a lot of work (16 output
// channels x 8 pixels in the pointwise kernel, a whole channel in batch norm's small-map path, 64 items
// per invocation in the mixed op) and use few invocations. A GPU needs the opposite: tens of thousands of
// threads in flight to hide memory latency. On an NVIDIA H200 the software splits left batch norm at
// 1-3% of copy bandwidth and the pointwise forward 2-8x behind tfjs-webgpu (bench/RESULTS-nvidia-h200.md).
// Each op that splits work differently asks `tuning()`; the math and the results are the same either way
// (tests run both on the software adapter).
import { runtime } from './runtime.ts';

export type Tuning = 'software' | 'gpu';

let forced: Tuning | null = parse(process.env.FNA_TUNING);

function parse(value: string | undefined): Tuning | null {
  if (value === undefined || value === '' || value === 'auto') return null;
  if (value === 'software' || value === 'gpu') return value;
  throw new Error(`FNA_TUNING=${value}: expected 'software', 'gpu' or 'auto'`);
}

/** The work splits in use: forced by `setTuning` or env FNA_TUNING, else by the adapter. */
export function tuning(): Tuning {
  return forced ?? (runtime().ctx.isSoftware ? 'software' : 'gpu');
}

/** Forces the work splits of one kind of adapter on any adapter ('auto' goes back to the adapter's). */
export function setTuning(t: Tuning | 'auto'): void {
  forced = t === 'auto' ? null : parse(t);
}
