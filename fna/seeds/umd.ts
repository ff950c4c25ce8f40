// Reads the value out of a browserify/UMD bundle such as nsfwjs ships its models in
// (`!function(e){...}({1:[function(e,a,n){a.exports={modelTopology:...}},{}]},{},[1])(1)`), without
// running it: the exported value is a plain JavaScript literal, which a small parser reads.
// Grammar: objects (identifier, string or number keys), arrays, strings, numbers, true/false/null,
// the minifier's `!0`/`!1`, and `void 0`. Anything else is reported with its position.

export class UmdError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'UmdError';
  }
}

/** Module 1 of the bundle assigns its value to `module.exports`; the module parameter's name varies. */
const MODULE_ONE = /\{\s*1\s*:\s*\[\s*function\s*\(\s*([\w$]+)\s*,\s*([\w$]+)\s*,\s*([\w$]+)\s*\)\s*\{\s*(?:"use strict";?\s*)?([\w$]+)\.exports\s*=/;

/** The literal that module 1 of a browserify bundle exports. `source` names the file in errors. */
export function extractBundleExport(code: string, source = '<bundle>'): unknown {
  const match = MODULE_ONE.exec(code);
  if (!match || match[4] !== match[2]) {
    throw new UmdError(source, 'is not a browserify bundle whose module 1 assigns a literal to module.exports');
  }
  const parser = new LiteralParser(code, match.index + match[0].length, source);
  const value = parser.value();
  parser.expectEnd();
  return value;
}

const NUMBER = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const IDENTIFIER = /[A-Za-z_$][\w$]*/y;
const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', 0: '\0' };

class LiteralParser {
  constructor(private readonly text: string, private pos: number, private readonly source: string) {}

  private fail(problem: string): never {
    const excerpt = JSON.stringify(this.text.slice(this.pos, this.pos + 24));
    throw new UmdError(this.source, `${problem} at offset ${this.pos} (${excerpt})`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? '';
  }

  private eat(token: string): boolean {
    if (this.peek() !== token[0] || !this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  private sticky(pattern: RegExp): string | null {
    this.skipSpace();
    pattern.lastIndex = this.pos;
    const m = pattern.exec(this.text);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }

  /** After the exported literal only `;` and the module function's closing brace may follow. */
  expectEnd(): void {
    this.eat(';');
    if (!this.eat('}')) this.fail('expected the end of the module function after the exported literal');
  }

  value(): unknown {
    const c = this.peek();
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"' || c === "'") return this.string();
    if (this.eat('!0')) return true;
    if (this.eat('!1')) return false;
    const number = this.sticky(NUMBER);
    if (number !== null) return Number(number);
    const word = this.sticky(IDENTIFIER);
    if (word === 'true' || word === 'false') return word === 'true';
    if (word === 'null') return null;
    if (word === 'void' && this.sticky(NUMBER) !== null) return undefined;
    return this.fail(word ? `'${word}' is not a literal (the bundle would have to be run)` : 'expected a literal');
  }

  private object(): Record<string, unknown> {
    this.eat('{');
    const out: Record<string, unknown> = {};
    while (!this.eat('}')) {
      const c = this.peek();
      const key = c === '"' || c === "'" ? this.string() : (this.sticky(IDENTIFIER) ?? this.sticky(NUMBER));
      if (key === null) this.fail('expected an object key');
      if (!this.eat(':')) this.fail(`expected ':' after key '${key}'`);
      // defineProperty, so a key named __proto__ is stored as data rather than changing the prototype
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      if (!this.eat(',') && this.peek() !== '}') this.fail("expected ',' or '}' in an object");
    }
    return out;
  }

  private array(): unknown[] {
    this.eat('[');
    const out: unknown[] = [];
    while (!this.eat(']')) {
      out.push(this.value());
      if (!this.eat(',') && this.peek() !== ']') this.fail("expected ',' or ']' in an array");
    }
    return out;
  }

  private string(): string {
    const quote = this.text[this.pos++];
    const chunks: string[] = [];
    let start = this.pos;
    for (;;) {
      const next = this.nextQuoteOrBackslash(quote);
      if (next < 0) this.fail('unterminated string');
      chunks.push(this.text.slice(start, next));
      this.pos = next + 1;
      if (this.text[next] === quote) return chunks.join('');
      chunks.push(this.escape());
      start = this.pos;
    }
  }

  private nextQuoteOrBackslash(quote: string): number {
    const q = this.text.indexOf(quote, this.pos);
    const b = this.text.indexOf('\\', this.pos);
    if (q < 0) return -1;
    return b >= 0 && b < q ? b : q;
  }

  /** Reads the escape after a backslash (pos is just past it). */
  private escape(): string {
    const c = this.text[this.pos++];
    if (c === 'u' || c === 'x') {
      const digits = this.text.slice(this.pos, this.pos + (c === 'u' ? 4 : 2));
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== (c === 'u' ? 4 : 2)) this.fail(`bad \\${c} escape`);
      this.pos += digits.length;
      return String.fromCharCode(parseInt(digits, 16));
    }
    if (c === '\n') return '';
    return SIMPLE_ESCAPES[c] ?? c;
  }
}
