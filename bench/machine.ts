// Where a benchmark ran: enough to compare a run on lavapipe with one on real hardware.
import os from 'node:os';
import { runtime } from '../engine/runtime.ts';

export interface MachineInfo {
  date: string;
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  /** 1-minute load averages when the run started and ended: other work on the machine skews every number. */
  loadAverage: number;
  loadAverageEnd?: number;
  /** Highest 1-minute load average sampled during the run. */
  loadAverageMax?: number;
  /** Peer libraries compared against, with their versions (or why they could not load). */
  peers?: Record<string, string>;
  adapter: string;
  backend: string;
  software: boolean;
  gpuTimestamps: boolean;
  shaderCache: string;
}

export function machineInfo(): MachineInfo {
  const { ctx } = runtime();
  const i = ctx.adapterInfo;
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg()[0],
    adapter: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown',
    backend: ctx.backend,
    software: ctx.isSoftware,
    gpuTimestamps: ctx.features.has('timestamp-query'),
    shaderCache: !ctx.isSoftware
      ? "the driver's own (cold is a real compile only on a fresh machine)"
      : process.env.MESA_SHADER_CACHE_DISABLE === 'true'
        ? 'Mesa shader cache disabled (cold = real compile)'
        : 'driver default',
  };
}
