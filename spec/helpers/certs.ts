// Certificates made with openssl at test time, once per process: a test root
// CA, an intermediate under it, and leaves for localhost and 127.0.0.1 (RSA
// 2048, ECDSA P-256 and P-384), plus the bad ones: expired, for another
// name, from an unknown CA, an encrypted key, a 1024-bit RSA key.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Leaf {
  /** The leaf then the intermediate, as a server sends them. */
  chain: string;
  key: string;
  chainFile: string;
  keyFile: string;
}

export interface TestCerts {
  dir: string;
  /** The root the tests trust (PEM) and its file. */
  ca: string;
  caFile: string;
  rsa: Leaf;
  ec: Leaf;
  ec384: Leaf;
  expired: Leaf;
  wrongName: Leaf;
  /** Signed by a root nobody trusts. */
  unknownCa: Leaf;
  /** The ec leaf's key under a passphrase. */
  encryptedKeyFile: string;
  /** An RSA-1024 leaf: too weak to serve. */
  weak: Leaf;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
const LEAF_EXT = (names: string): string => `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${names}\n`;
const LOCAL_NAMES = 'DNS:localhost,IP:127.0.0.1';

let made: TestCerts | null = null;

export function testCerts(): TestCerts {
  if (made !== null) return made;
  const dir = mkdtempSync(join(tmpdir(), 'pg-certs-'));
  const file = (name: string): string => join(dir, name);
  writeFileSync(file('ca.ext'), CA_EXT);
  const newKey = (name: string, kind: string): void => {
    const opts = kind.startsWith('rsa') ? ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${kind.slice(3)}`] : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`];
    openssl(dir, ['genpkey', ...opts, '-out', name]);
  };
  const root = (name: string): void => {
    newKey(`${name}.key`, 'rsa2048');
    openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=Pythongoose ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  };
  root('root');
  root('stranger');
  // The intermediate, signed by the root.
  newKey('inter.key', 'P-256');
  openssl(dir, ['req', '-new', '-key', 'inter.key', '-out', 'inter.csr', '-subj', '/CN=Pythongoose intermediate']);
  openssl(dir, ['x509', '-req', '-in', 'inter.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'inter.crt', '-days', '30', '-extfile', 'ca.ext']);
  const leaf = (name: string, kind: string, opts: { names?: string; issuer?: string; expired?: boolean } = {}): Leaf => {
    const issuer = opts.issuer ?? 'inter';
    newKey(`${name}.key`, kind);
    writeFileSync(file(`${name}.ext`), LEAF_EXT(opts.names ?? LOCAL_NAMES));
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    if (opts.expired) {
      // openssl 3.0's x509 cannot backdate: its ca command can.
      writeFileSync(file('index.txt'), '');
      writeFileSync(file('serial'), '1000\n');
      writeFileSync(
        file('ca.cnf'),
        `[ca]\ndefault_ca=test\n[test]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n`,
      );
      openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-cert', `${issuer}.crt`, '-keyfile', `${issuer}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-extfile', `${name}.ext`, '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext']);
    } else {
      openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '30', '-extfile', `${name}.ext`]);
    }
    const chain = readFileSync(file(`${name}.crt`), 'utf8') + (issuer === 'inter' ? readFileSync(file('inter.crt'), 'utf8') : '');
    writeFileSync(file(`${name}.chain.pem`), chain);
    return { chain, key: readFileSync(file(`${name}.key`), 'utf8'), chainFile: file(`${name}.chain.pem`), keyFile: file(`${name}.key`) };
  };
  const certs: TestCerts = {
    dir,
    ca: readFileSync(file('root.crt'), 'utf8'),
    caFile: file('root.crt'),
    rsa: leaf('rsa', 'rsa2048'),
    ec: leaf('ec', 'P-256'),
    ec384: leaf('ec384', 'P-384'),
    expired: leaf('expired', 'P-256', { expired: true }),
    wrongName: leaf('wrongname', 'P-256', { names: 'DNS:other.example' }),
    unknownCa: leaf('unknown', 'P-256', { issuer: 'stranger' }),
    encryptedKeyFile: file('ec.enc.key'),
    weak: leaf('weak', 'rsa1024'),
  };
  openssl(dir, ['pkey', '-in', 'ec.key', '-aes256', '-passout', 'pass:secret', '-out', 'ec.enc.key']);
  // Readable by all: mosquitto, started as root, reads them as its own user. Test keys only.
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) chmodSync(join(dir, name), 0o644);
  made = certs;
  return certs;
}
