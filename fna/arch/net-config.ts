// FNA's printed architecture form (derive_arch.py): one `[[C_in, C_out], ['op', ...], stride]` per stage,
// joined by `|` and a newline. Only the stages are in it; stem, head and BN settings come from options.
import { validateArch } from './validate.ts';
import { ArchError, type MobileNetArch, type OutputStride } from './types.ts';

export interface NetConfigOptions {
  inputChannels?: number;
  stemStride?: number;
  head?: { out: number } | null;
  numClasses?: number | null;
  bnEps?: number;
  outputStride?: OutputStride;
}

type Literal = number | string | Literal[];

/** Reads the Python-literal subset the config uses: lists, integers and quoted strings. */
class LiteralReader {
  private pos = 0;
  constructor(private readonly text: string) {}

  skip(separators: RegExp): void {
    while (this.pos < this.text.length && separators.test(this.text[this.pos])) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  read(): Literal {
    this.skip(/\s/);
    const c = this.text[this.pos];
    if (c === '[') return this.readList();
    if (c === "'" || c === '"') return this.readString(c);
    const m = /^-?\d+/.exec(this.text.slice(this.pos));
    if (m) {
      this.pos += m[0].length;
      return Number(m[0]);
    }
    throw this.error(c === undefined ? 'unexpected end of text' : `unexpected '${c}'`);
  }

  private readList(): Literal[] {
    this.pos++;
    const items: Literal[] = [];
    this.skip(/\s/);
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.read());
      this.skip(/\s/);
      const c = this.text[this.pos++];
      if (c === ']') return items;
      if (c !== ',') throw this.error(`expected ',' or ']' but found ${c === undefined ? 'the end' : `'${c}'`}`);
    }
  }

  private readString(quote: string): string {
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) throw this.error('unterminated string');
    const s = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return s;
  }

  private error(problem: string): ArchError {
    return new ArchError('netConfig', `${problem} at character ${this.pos}`);
  }
}

function isInt(v: Literal): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

export function parseFnaNetConfig(text: string, options: NetConfigOptions = {}): MobileNetArch {
  const reader = new LiteralReader(text);
  const entries: Literal[] = [];
  reader.skip(/[\s|]/);
  while (!reader.atEnd()) {
    entries.push(reader.read());
    reader.skip(/[\s|]/);
  }
  if (entries.length === 0) throw new ArchError('netConfig', 'no stages found');
  const stages = entries.map((entry, i) => {
    const field = `netConfig[${i}]`;
    if (!Array.isArray(entry) || entry.length !== 3) {
      throw new ArchError(field, 'expected [[C_in, C_out], [op, ...], stride]');
    }
    const [channels, ops, stride] = entry;
    if (!Array.isArray(channels) || channels.length !== 2 || !channels.every(isInt)) {
      throw new ArchError(`${field}[0]`, 'expected [C_in, C_out] as two integers');
    }
    if (!Array.isArray(ops) || !ops.every((o): o is string => typeof o === 'string')) {
      throw new ArchError(`${field}[1]`, 'expected a list of quoted op names');
    }
    if (!isInt(stride)) throw new ArchError(`${field}[2]`, 'expected an integer stride');
    return { in: channels[0] as number, out: channels[1] as number, stride, ops };
  });
  const arch: MobileNetArch = {
    kind: 'mobilenetv2',
    inputChannels: options.inputChannels ?? 3,
    stem: { out: stages[0].in, stride: options.stemStride ?? 2 },
    stages,
    head: options.head ?? null,
    numClasses: options.numClasses ?? null,
    bnEps: options.bnEps ?? 1e-5,
  };
  if (options.outputStride !== undefined) arch.outputStride = options.outputStride;
  validateArch(arch);
  return arch;
}

/** The exact form FNA logs (Python's str() of each stage list), so it pastes back into an FNA config. */
export function formatFnaNetConfig(arch: MobileNetArch): string {
  return arch.stages
    .map((s) => `[[${s.in}, ${s.out}], [${s.ops.map((o) => `'${o}'`).join(', ')}], ${s.stride}]`)
    .join('|\n');
}
