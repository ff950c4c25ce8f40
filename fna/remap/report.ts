// What remapping did to every target tensor, as JSON, plus a one-screen console summary.
import type { KernelPlacement } from './kernel.ts';
import type { WidthSelection } from './importance.ts';

/**
 * copied: bit-for-bit equal to the seed tensor. channel-selected: a channel axis kept a subset of the seed's
 * channels. cropped / padded: kernel centre crop / growth (zero ring, or dilated placement). zero-filled:
 * conv or linear entries the seed does not cover are 0. initialised: 1-D entries (or a whole tensor) the
 * seed does not cover keep the target's initial values.
 */
export type RemapAction = 'copied' | 'channel-selected' | 'cropped' | 'padded' | 'zero-filled' | 'initialised';

export const REMAP_ACTIONS: readonly RemapAction[] = ['copied', 'channel-selected', 'cropped', 'padded', 'zero-filled', 'initialised'];

export interface RemapEntry {
  key: string;
  shape: number[];
  source: string | null;
  sourceShape: number[] | null;
  actions: RemapAction[];
  /** Importance-based channel selection used on this tensor's hidden axis. */
  selection?: Exclude<WidthSelection, 'first-k'>;
  kernel?: { from: number; to: number; placement: KernelPlacement };
  note?: string;
}

export interface RemapReport {
  seedKind: string;
  targetKind: string;
  mode: 'target' | 'super';
  widthBy: WidthSelection;
  kernelPlacement: KernelPlacement;
  /** False where the rules are our extension of FNA (ResNet, grouped convs), not FNA's own code. */
  verifiedAgainstFna: boolean;
  notes: string[];
  entries: RemapEntry[];
  /** Seed tensors no target tensor was remapped from (dropped layers, unused classifier, ...). */
  unusedSeedKeys: string[];
}

/** Where a key belongs for the summary: 'stem', 'blocks.3', 'layer2', 'classifier', 'fc'. */
export function reportGroup(key: string): string {
  const parts = key.split('.');
  if (parts[0] === 'blocks') return parts[1] === '0' ? 'stem' : `blocks.${parts[1]}`;
  if (parts[0] === 'conv1' || parts[0] === 'bn1') return 'stem';
  return parts[0];
}

export type ActionCounts = Record<RemapAction, number>;

export function countActions(entries: readonly RemapEntry[]): { total: ActionCounts; byGroup: Map<string, ActionCounts & { tensors: number }> } {
  const zero = (): ActionCounts => ({ copied: 0, 'channel-selected': 0, cropped: 0, padded: 0, 'zero-filled': 0, initialised: 0 });
  const total = zero();
  const byGroup = new Map<string, ActionCounts & { tensors: number }>();
  for (const e of entries) {
    const group = reportGroup(e.key);
    if (!byGroup.has(group)) byGroup.set(group, { ...zero(), tensors: 0 });
    const counts = byGroup.get(group)!;
    counts.tensors++;
    for (const a of e.actions) {
      counts[a]++;
      total[a]++;
    }
  }
  return { total, byGroup };
}

export function formatRemapReport(report: RemapReport): string {
  const { total, byGroup } = countActions(report.entries);
  const lines = [
    `remap ${report.seedKind} seed -> ${report.targetKind} (${report.mode}), width ${report.widthBy}, kernel ${report.kernelPlacement}` +
      (report.verifiedAgainstFna ? '' : '  [FNA-style, not verified against FNA++]'),
    `${report.entries.length} target tensors; ` + REMAP_ACTIONS.map((a) => `${total[a]} ${a}`).join(', ') +
      `; ${report.unusedSeedKeys.length} seed tensors unused`,
  ];
  const header = ['group', 'tensors', ...REMAP_ACTIONS];
  const rows = [...byGroup].map(([group, c]) => [group, String(c.tensors), ...REMAP_ACTIONS.map((a) => (c[a] ? String(c[a]) : '.'))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) {
    lines.push('  ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  }
  const noted = report.entries.filter((e) => e.note && e.source === null);
  if (noted.length > 0) lines.push(`${noted.length} tensors have no seed counterpart, e.g. ${noted[0].key}: ${noted[0].note}`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

/** JSON with one line per entry: readable in an editor, diffable, and JSON.parse gives the report back. */
export function remapReportJson(report: RemapReport): string {
  const { entries, unusedSeedKeys, ...summary } = report;
  const head = JSON.stringify(summary, null, 2).slice(0, -2);
  const lines = entries.map((e) => `    ${JSON.stringify(e)}`).join(',\n');
  return `${head},\n  "entries": [\n${lines}\n  ],\n  "unusedSeedKeys": ${JSON.stringify(unusedSeedKeys)}\n}\n`;
}
