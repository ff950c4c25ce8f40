/** Bad remap input: `subject` names the key, option or arch field at fault. Nothing is produced. */
export class RemapError extends Error {
  constructor(readonly subject: string, problem: string) {
    super(`${subject}: ${problem}`);
    this.name = 'RemapError';
  }
}
