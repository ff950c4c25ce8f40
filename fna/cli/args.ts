// A small flag parser for the CLI: --name value, --flag; unknown flags are errors.
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  [name: string]: { type: 'string' | 'number' | 'boolean'; default?: string | number | boolean; help: string };
}

export type Flags<S extends FlagSpec> = { [K in keyof S]: S[K]['type'] extends 'number' ? number : S[K]['type'] extends 'boolean' ? boolean : string };

export function parseFlags<S extends FlagSpec>(command: string, argv: string[], spec: S): Flags<S> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) if (v.default !== undefined) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'\n${usage(command, spec)}`);
    const name = a.slice(2);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}\n${usage(command, spec)}`);
    if (s.type === 'boolean') {
      out[name] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (s.type === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${value}'`);
      out[name] = n;
    } else out[name] = value;
  }
  for (const [k, v] of Object.entries(spec)) if (out[k] === undefined && v.type !== 'boolean') throw new UsageError(`--${k} is required\n${usage(command, spec)}`);
  return out as Flags<S>;
}

export function usage(command: string, spec: FlagSpec): string {
  const lines = Object.entries(spec).map(([k, v]) => `  --${k}${v.type === 'boolean' ? '' : ` <${v.type}>`}  ${v.help}${v.default !== undefined ? ` (default ${v.default})` : ''}`);
  return `usage: fna ${command} [options]\n${lines.join('\n')}`;
}
