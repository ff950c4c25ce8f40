// Compute pipelines keyed by kernel name (the name already carries the code-changing key; never a shape).
// Creation is synchronous so ops can record without awaiting; `warmup` compiles ahead of time in parallel.
import type { Kernel } from '../kernel.ts';
import { GpuError, reportGpuError, trackGpuCheck } from './device.ts';

export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  /**
   * Kernels whose compile failed: a later run throws that error at once. (Left in the cache, the invalid
   * pipeline would only raise "invalid due to a previous error" from every later dispatch, named after
   * whichever kernel the dispatcher noted last.)
   */
  private failed = new Map<string, GpuError>();
  private inFlight = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  names(): string[] {
    return [...this.pipelines.keys()];
  }

  private descriptor(kernel: Kernel): GPUComputePipelineDescriptor {
    const module = this.device.createShaderModule({ code: kernel.wgsl, label: kernel.name });
    return { layout: 'auto', compute: { module }, label: kernel.name };
  }

  get(kernel: Kernel): GPUComputePipeline {
    const failure = this.failed.get(kernel.name);
    if (failure) throw failure;
    let p = this.pipelines.get(kernel.name);
    if (!p) {
      this.device.pushErrorScope('validation');
      p = this.device.createComputePipeline(this.descriptor(kernel));
      trackGpuCheck(
        this.device.popErrorScope().then((err) => {
          if (!err) return;
          const failure = new GpuError(`kernel '${kernel.name}' failed to compile: ${err.message}`);
          this.failed.set(kernel.name, failure);
          this.pipelines.delete(kernel.name);
          reportGpuError(failure);
        }),
      );
      this.pipelines.set(kernel.name, p);
    }
    return p;
  }

  /** Compiles asynchronously; the same kernel requested twice compiles once. Errors name the kernel. */
  async warm(kernel: Kernel): Promise<GPUComputePipeline> {
    const have = this.pipelines.get(kernel.name);
    if (have) return have;
    let job = this.inFlight.get(kernel.name);
    if (!job) {
      job = this.device
        .createComputePipelineAsync(this.descriptor(kernel))
        .catch((e: Error) => {
          throw new Error(`kernel '${kernel.name}': pipeline creation failed: ${e.message}`);
        })
        .then((p) => {
          this.pipelines.set(kernel.name, p);
          return p;
        })
        .finally(() => this.inFlight.delete(kernel.name));
      this.inFlight.set(kernel.name, job);
    }
    return job;
  }

  clear(): void {
    this.pipelines.clear();
    this.failed.clear();
  }
}
