// Progress lines for long work: step, loss, images/s, ETA. Prints at most every `intervalMs`, and always
// the last step; on a TTY the line is rewritten in place.

export interface ProgressOptions {
  total: number;
  label?: string;
  intervalMs?: number;
  stream?: NodeJS.WriteStream;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class Progress {
  private readonly start = performance.now();
  private lastPrint = 0;
  private items = 0;
  private readonly stream: NodeJS.WriteStream;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
  }

  /** Reports that `step` (1-based) of `total` is done, having processed `items` more images. */
  update(step: number, fields: Record<string, number | string>, items = 0): void {
    this.items += items;
    const now = performance.now();
    const last = step >= this.opts.total;
    if (!last && now - this.lastPrint < (this.opts.intervalMs ?? 2000)) return;
    this.lastPrint = now;
    const elapsed = (now - this.start) / 1000;
    const rate = this.items / elapsed;
    const eta = (elapsed / step) * (this.opts.total - step);
    const shown = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4)) : v}`)
      .join('  ');
    const line = `${this.opts.label ? `[${this.opts.label}] ` : ''}step ${step}/${this.opts.total}  ${shown}  ${this.items ? `${rate.toFixed(1)} img/s  ` : ''}elapsed ${formatDuration(elapsed)}  ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) this.stream.write(`\r${line}${last ? '\n' : ''}`);
    else this.stream.write(`${line}\n`);
  }
}
