// nats-server with authentication, permissions and TLS, for test/grid/secure.test.ts: a test CA
// made by openssl at test time, the README's least-privilege configuration, and NATS's
// decentralised auth (an operator, an account and a user JWT, signed here with nkeys).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Certs {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A certificate from another CA, which the server must not accept. */
  strangerCert: string;
  strangerKey: string;
}

/** A CA, a server certificate for 127.0.0.1 and client certificates, by openssl. */
export function makeCerts(dir: string): Certs {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const f = (n: string) => path.join(dir, n);
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=torchloop test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['server', 'server.ext'], ['client', 'client.ext']]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=torchloop test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}.pem`);
  }
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=stranger', '-keyout', 'stranger.key', '-out', 'stranger.pem');
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), strangerCert: f('stranger.pem'), strangerKey: f('stranger.key') };
}

/** Starts nats-server with a configuration file; resolves once it listens. */
export interface NatsServer {
  url: string;
  port: number;
  stop: () => void;
  log: () => string;
  /** Resolves once the log holds `count` matches of `re` (a global regex); rejects after `timeoutMs`. */
  waitForLog: (re: RegExp, count: number, timeoutMs?: number) => Promise<void>;
}

export async function startNatsConfig(config: string, env: Record<string, string> = {}): Promise<NatsServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-snats-'));
  const port = await freePort();
  const file = path.join(dir, 'nats.conf');
  writeFileSync(file, config.replaceAll('$PORT', String(port)).replaceAll('$STORE', path.join(dir, 'js')));
  const proc = spawn('nats-server', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  const listeners = new Set<() => void>();
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) resolve();
      for (const l of listeners) l();
    });
    proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  const waitForLog = (re: RegExp, count: number, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if ((log.match(re) ?? []).length < count) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`nats-server did not log ${count} of ${re} in ${timeoutMs} ms`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return { url: `127.0.0.1:${port}`, port, stop: () => proc.kill('SIGTERM'), log: () => log, waitForLog };
}

const b64 = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(buf: Buffer): string {
  let bits = 0, value = 0, out = '';
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** A NATS JWT (v2 claims), signed by `issuer`. */
function jwt(subject: string, name: string, nats: Record<string, unknown>, issuer: KeyPair): string {
  const claims: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims.jti = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const body = `${b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64(JSON.stringify(claims))}`;
  return `${body}.${b64(issuer.sign(new TextEncoder().encode(body)))}`;
}

/**
 * NATS's decentralised auth: an operator, a system account, one account with JetStream and a
 * user, the server's configuration (a memory resolver preloaded with the accounts, JetStream on)
 * and the user's .creds file.
 */
export function operatorAuth(dir: string): { config: string; creds: string; otherCreds: string } {
  const operator = createOperator(), account = createAccount(), user = createUser();
  const opJwt = jwt(operator.getPublicKey(), 'torchloop-test', { type: 'operator' }, operator);
  const system = createAccount();
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const sysJwt = jwt(system.getPublicKey(), 'SYS', { type: 'account', limits }, operator);
  const acJwt = jwt(account.getPublicKey(), 'TORCHLOOP', { type: 'account', limits: { ...limits, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } }, operator);
  const credsOf = (u: KeyPair, signer: KeyPair) => {
    const userJwt = jwt(u.getPublicKey(), 'sim', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 }, signer);
    return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(u.getSeed())}\n------END USER NKEY SEED------\n`;
  };
  const creds = path.join(dir, 'sim.creds'), otherCreds = path.join(dir, 'stranger.creds');
  writeFileSync(creds, credsOf(user, account), { mode: 0o600 });
  // A user signed by an account the server does not know.
  writeFileSync(otherCreds, credsOf(createUser(), createAccount()), { mode: 0o600 });
  const config = [
    'port: $PORT', 'host: 127.0.0.1', `operator: "${opJwt}"`, `system_account: ${system.getPublicKey()}`, 'resolver: MEMORY',
    `resolver_preload: {\n  ${system.getPublicKey()}: "${sysJwt}"\n  ${account.getPublicKey()}: "${acJwt}"\n}`, 'jetstream { store_dir: "$STORE" }',
  ].join('\n');
  return { config: `${config}\n`, creds, otherCreds };
}
