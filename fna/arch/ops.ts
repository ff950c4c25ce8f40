// MBConv op names (`k{kernel}_e{expansion}`, or `skip`) and the sub-module layout of an MBBlock (spec §1.0).

export interface MBConvOp {
  kernel: number;
  expansion: number;
}

export type ParsedOp = MBConvOp | 'skip';

const OP_PATTERN = /^k([1-9]\d*)_e([1-9]\d*)$/;

/** The op, or null when the name is neither `skip` nor `k{odd}_e{positive int}`. */
export function parseOp(name: string): ParsedOp | null {
  if (name === 'skip') return 'skip';
  const m = OP_PATTERN.exec(name);
  if (!m) return null;
  const kernel = Number(m[1]);
  const expansion = Number(m[2]);
  if (kernel % 2 === 0 || !Number.isSafeInteger(kernel) || !Number.isSafeInteger(expansion)) return null;
  return { kernel, expansion };
}

export function isSkip(name: string): boolean {
  return name === 'skip';
}

export function formatOp(op: ParsedOp): string {
  return op === 'skip' ? 'skip' : `k${op.kernel}_e${op.expansion}`;
}

/** Parses a name already known to be a valid non-skip op. */
export function mbconvOp(name: string): MBConvOp {
  const op = parseOp(name);
  if (op === null || op === 'skip') throw new Error(`'${name}' is not an MBConv op`);
  return op;
}

export type MBConvRole = 'expand' | 'expand_bn' | 'depthwise' | 'depthwise_bn' | 'project' | 'project_bn';

export interface MBConvModule {
  /** Index j in `op.j` (ReLU6 modules take the indices in between). */
  index: number;
  role: MBConvRole;
}

const EXPANDED_LAYOUT: MBConvModule[] = [
  { index: 0, role: 'expand' },
  { index: 1, role: 'expand_bn' },
  { index: 3, role: 'depthwise' },
  { index: 4, role: 'depthwise_bn' },
  { index: 6, role: 'project' },
  { index: 7, role: 'project_bn' },
];

const UNEXPANDED_LAYOUT: MBConvModule[] = [
  { index: 0, role: 'depthwise' },
  { index: 1, role: 'depthwise_bn' },
  { index: 3, role: 'project' },
  { index: 4, role: 'project_bn' },
];

export function mbconvModules(op: MBConvOp): readonly MBConvModule[] {
  return op.expansion === 1 ? UNEXPANDED_LAYOUT : EXPANDED_LAYOUT;
}

export function mbconvRoleAt(op: MBConvOp, index: number): MBConvRole | null {
  return mbconvModules(op).find((m) => m.index === index)?.role ?? null;
}

export function mbconvIndexOf(op: MBConvOp, role: MBConvRole): number | null {
  return mbconvModules(op).find((m) => m.role === role)?.index ?? null;
}
