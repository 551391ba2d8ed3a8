// The app's environment on the host (ts/serve/environment.ts): dotenv files
// read as the CLI reads them, and secrets redacted from text.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EnvironmentError, parseEnvFile, Redactor } from '../../ts/serve/environment.js';

const file = suite('--env-file');

file('NAME=VALUE lines, comments, export, quotes and trailing comments', () => {
  const text = [
    '# a comment',
    '',
    'PLAIN=value',
    'SPACED = spaced value   # comment',
    'export EXPORTED=1',
    'DOUBLE="a \\"quoted\\" word\\nand a line"',
    "SINGLE='kept # as is \\n'",
    'EMPTY=',
    'EQUALS=a=b=c',
    '  INDENTED=yes\r',
  ].join('\n');
  assert.equal(parseEnvFile(text, 'app.env'), {
    PLAIN: 'value',
    SPACED: 'spaced value',
    EXPORTED: '1',
    DOUBLE: 'a "quoted" word\nand a line',
    SINGLE: 'kept # as is \\n',
    EMPTY: '',
    EQUALS: 'a=b=c',
    INDENTED: 'yes',
  });
});

file('a line that is no assignment, or an unterminated quote: the file and line in the error', () => {
  assert.throws(() => parseEnvFile('A=1\nnot an assignment\n', 'app.env'), (e: unknown) => e instanceof EnvironmentError && /app\.env:2: not NAME=VALUE/.test(e.message));
  assert.throws(() => parseEnvFile('A="open\n', 'x.env'), /x\.env:1: unterminated quote/);
  assert.throws(() => parseEnvFile('1A=x\n', 'x.env'), /x\.env:1/);
});

file.run();

const redact = suite('secret redaction');

redact('every occurrence of every secret, the longest first; other text untouched', () => {
  const { redact: r } = new Redactor({ SHORT: 'abcd', LONG: 'abcdefgh', RE: 'a.b*c+(d)' });
  assert.is(r('x abcdefgh y abcd z'), 'x [secret LONG] y [secret SHORT] z');
  assert.is(r('a.b*c+(d) and axbbc'), '[secret RE] and axbbc');
  assert.is(r('nothing here'), 'nothing here');
  assert.is(new Redactor({}).redact('abcd'), 'abcd');
});

redact.run();
