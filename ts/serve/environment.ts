// The app's environment: the variables the host hands to Python as
// os.environ (--env, --env-file, --secret), and the redaction of secrets in
// everything the host writes.

export class EnvironmentError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** All variables together, as the guest holds them: more is a mistake, not configuration. */
export const MAX_ENV_BYTES = 1024 * 1024;
/** Shorter secrets cannot be redacted without mangling other text. */
export const MIN_SECRET_LENGTH = 4;

/** Check names and values; the guest's os.environ is exactly env and secrets together. */
export function checkEnvironment(env: Readonly<Record<string, string>>, secrets: Readonly<Record<string, string>>): Record<string, string> {
  let bytes = 0;
  const all: Record<string, string> = {};
  for (const [kind, vars] of [['env', env], ['secrets', secrets]] as const) {
    for (const [name, value] of Object.entries(vars)) {
      if (!NAME.test(name)) throw new EnvironmentError(`${kind}: ${JSON.stringify(name)} is not a variable name (letters, digits and _, not first a digit)`);
      if (typeof value !== 'string' || value.includes('\0')) throw new EnvironmentError(`${kind}.${name} must be a string without NUL`);
      if (name in all) throw new EnvironmentError(`${name} is given both as env and as a secret`);
      if (kind === 'secrets' && value.length < MIN_SECRET_LENGTH) {
        throw new EnvironmentError(`secret ${name} is shorter than ${MIN_SECRET_LENGTH} characters: too short to redact from the host's output`);
      }
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
      all[name] = value;
    }
  }
  if (bytes > MAX_ENV_BYTES) throw new EnvironmentError(`the app's environment is ${bytes} bytes: more than ${MAX_ENV_BYTES / 1024} KiB`);
  return all;
}

/**
 * Secret values replaced by `[secret NAME]` in text: Python's output, the
 * access log and the host's messages. Output reaches the host a line at a
 * time (or 64 KiB of one very long line), and a secret is found within one.
 */
export class Redactor {
  private readonly pattern: RegExp | null;
  private readonly names = new Map<string, string>();

  constructor(secrets: Readonly<Record<string, string>>) {
    const values = Object.entries(secrets).sort(([, a], [, b]) => b.length - a.length); // longest first
    for (const [name, value] of values) this.names.set(value, name);
    this.pattern = values.length === 0 ? null : new RegExp(values.map(([, v]) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  }

  /** Whether there is anything to redact: with no secrets, output is passed on untouched. */
  get active(): boolean {
    return this.pattern !== null;
  }

  readonly redact = (text: string): string => (this.pattern === null ? text : text.replace(this.pattern, (v) => `[secret ${this.names.get(v)}]`));
}

/**
 * A dotenv file: NAME=VALUE lines, `#` comments and blank lines, an optional
 * `export ` before the name, and values optionally in single or double quotes
 * (double quotes take \n, \" and \\).
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) throw new EnvironmentError(`${file}:${i + 1}: not NAME=VALUE: ${raw.slice(0, 60)}`);
    let value = m[2];
    if (/^"(?:[^"\\]|\\.)*"$/.test(value)) value = value.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    else if (/^'[^']*'$/.test(value)) value = value.slice(1, -1);
    else if (/^["']/.test(value)) throw new EnvironmentError(`${file}:${i + 1}: unterminated quote`);
    else value = value.replace(/\s+#.*$/, '');
    vars[m[1]] = value;
  });
  return vars;
}
