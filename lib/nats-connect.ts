/**
 * Every NATS connection torchloop opens (remote environments, their sink, `generate --nats`,
 * the grid's coordinator and workers) goes through here, with the same options:
 *
 * - **Auth:** a token; a user and password; an NKey seed (a file); or a `.creds` file (the JWT
 *   and NKey of NATS's decentralised accounts).
 * - **TLS:** a CA file, a client certificate and key, and TLS required or not.
 *
 * They come from the config (`nats: { servers, creds, token, tls: {...} }`), from CLI flags, and
 * from the standard `NATS_*` environment variables. A flag wins over the config, and the
 * environment fills what neither gives. The auth method is taken whole from the first source
 * that names one.
 *
 * Secrets are never printed and never written. Errors and logs name the method ("token",
 * "user 'worker' and password", "the NKey in /path") and never its value, and `redact()` masks a
 * config before it is written.
 *
 * A refused authentication is one `ERR_AUTH` naming the server and the method. It is not retried:
 * the first connection fails fast and says why.
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { NatsConnection } from '@nats-io/transport-node';
import { TorchError } from './errors.ts';
import { optional } from './optional.ts';

export interface NatsTls {
  /** A PEM file of the CA(s) that signed the server's certificate. */
  ca?: string;
  /** The client's certificate and key (PEM files), for servers that verify clients. */
  cert?: string;
  key?: string;
  /** Refuse a server that does not speak TLS (implied by ca, cert or key). */
  required?: boolean;
}

export interface NatsOptions {
  /** NATS server(s): "host:port", "nats://host:port", "tls://host:port"; a list or comma-separated. */
  servers: string | string[];
  token?: string;
  user?: string;
  password?: string;
  /** A file holding an NKey user seed ("SU..."). */
  nkey?: string;
  /** A `.creds` file: a user JWT and its NKey seed. */
  creds?: string;
  tls?: NatsTls;
  /**
   * The prefix of this connection's reply subjects (default `_INBOX`). Give each role its own
   * (`_INBOX_worker`) and let it subscribe to that alone, so that no user reads the replies,
   * JetStream deliveries included, that the server sends another.
   */
  inbox?: string;
}

const AUTH_KEYS = ['token', 'user', 'password', 'nkey', 'creds'] as const;
const SECRET_KEYS = new Set(['token', 'password']);

/** The CLI flags every NATS command takes, as commander option specs: [flags, description]. */
export const NATS_FLAGS: [string, string][] = [
  ['--nats-creds <file>', 'NATS: a .creds file (JWT + NKey); or $NATS_CREDS'],
  ['--nats-nkey <file>', 'NATS: a file holding an NKey user seed; or $NATS_NKEY'],
  ['--nats-user <user>', 'NATS: user (with --nats-password); or $NATS_USER'],
  ['--nats-password <password>', 'NATS: password; or $NATS_PASSWORD'],
  ['--nats-token <token>', 'NATS: token; or $NATS_TOKEN'],
  ['--nats-ca <file>', 'NATS TLS: CA certificate(s), PEM; or $NATS_CA'],
  ['--nats-cert <file>', 'NATS TLS: client certificate, PEM; or $NATS_CERT'],
  ['--nats-key <file>', 'NATS TLS: client key, PEM; or $NATS_KEY'],
  ['--nats-tls', 'NATS: require TLS'],
  ['--nats-inbox <prefix>', 'NATS: the prefix of reply subjects (default _INBOX); or $NATS_INBOX'],
];

/** Commander's parsed values of NATS_FLAGS, as NatsOptions (servers aside). */
export function natsFlags(o: Record<string, unknown>): Partial<NatsOptions> {
  const tls: NatsTls = { ca: o.natsCa as string | undefined, cert: o.natsCert as string | undefined, key: o.natsKey as string | undefined, required: o.natsTls ? true : undefined };
  return { inbox: o.natsInbox as string | undefined, creds: o.natsCreds as string | undefined, nkey: o.natsNkey as string | undefined, user: o.natsUser as string | undefined, password: o.natsPassword as string | undefined, token: o.natsToken as string | undefined, tls };
}

function fromEnv(env: NodeJS.ProcessEnv): Partial<NatsOptions> {
  return {
    servers: env.NATS_URL,
    inbox: env.NATS_INBOX || undefined,
    creds: env.NATS_CREDS || undefined,
    nkey: env.NATS_NKEY || undefined,
    user: env.NATS_USER || undefined,
    password: env.NATS_PASSWORD || undefined,
    token: env.NATS_TOKEN || undefined,
    tls: { ca: env.NATS_CA || undefined, cert: env.NATS_CERT || undefined, key: env.NATS_KEY || undefined },
  };
}

const defined = <T extends object>(o: T | undefined): Partial<T> => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== '')) as Partial<T>;

/**
 * The options of one connection: flags over the config over the environment (servers, TLS
 * field by field); the auth method whole from the first source that names one.
 */
export function resolveNats(sources: { config?: Partial<NatsOptions> | null; flags?: Partial<NatsOptions>; servers?: string; env?: NodeJS.ProcessEnv }): NatsOptions {
  const env = fromEnv(sources.env ?? process.env);
  const layers = [defined(sources.flags), defined(sources.config ?? undefined), defined(env)];
  const servers = sources.servers ?? layers.map((l) => l.servers).find((s) => s !== undefined);
  if (!servers || (Array.isArray(servers) && servers.length === 0)) throw new TorchError('ERR_ARGUMENT', 'No NATS server given: pass --nats host:port, set nats.servers in the config, or set NATS_URL');
  const auth = layers.find((l) => AUTH_KEYS.some((k) => l[k] !== undefined)) ?? {};
  const named = AUTH_KEYS.filter((k) => auth[k] !== undefined && k !== 'password');
  if (named.length > 1) throw new TorchError('ERR_ARGUMENT', `Give one NATS auth method, not ${named.join(' and ')}`);
  if (auth.password !== undefined && auth.user === undefined) throw new TorchError('ERR_ARGUMENT', 'A NATS password needs a user (--nats-user or NATS_USER)');
  const tls: NatsTls = {};
  for (const k of ['ca', 'cert', 'key', 'required'] as const) {
    const v = layers.map((l) => defined(l.tls)[k]).find((x) => x !== undefined);
    if (v !== undefined) (tls as Record<string, unknown>)[k] = v;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new TorchError('ERR_ARGUMENT', 'A NATS TLS client certificate needs its key, and a key its certificate');
  const out: NatsOptions = { servers };
  const inbox = layers.map((l) => l.inbox).find((x) => x !== undefined);
  if (inbox !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(inbox)) throw new TorchError('ERR_ARGUMENT', `Expected a NATS inbox prefix of letters, digits, - and _ but received '${inbox}'`);
    out.inbox = inbox;
  }
  for (const k of AUTH_KEYS) if (auth[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = auth[k];
  if (Object.keys(tls).length) out.tls = tls;
  return out;
}

/** The auth method and TLS, for messages: never a secret's value. */
export function describeAuth(o: NatsOptions): string {
  const method = o.creds ? `the credentials in ${o.creds}` : o.nkey ? `the NKey in ${o.nkey}` : o.token ? 'a token' : o.user ? `user '${o.user}'${o.password !== undefined ? ' and password' : ''}` : 'no credentials';
  const tls = o.tls && (o.tls.required || o.tls.ca || o.tls.cert) ? `, TLS${o.tls.ca ? ` (CA ${o.tls.ca})` : ''}${o.tls.cert ? ` with client certificate ${o.tls.cert}` : ''}` : '';
  return method + tls;
}

/** A copy of a config object with every NATS secret (token, password) masked, at any depth. */
export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redact) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k) && typeof v === 'string' && v !== '' ? '***' : redact(v)])) as T;
}

export function serverList(o: NatsOptions): string {
  return Array.isArray(o.servers) ? o.servers.join(', ') : o.servers;
}

function readSecretFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TorchError('ERR_NOT_FOUND', `Cannot read the NATS ${what} file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Opens a connection with these options; refusals and unreachable servers are one clear error. */
export async function connectNats(o: NatsOptions, name: string): Promise<NatsConnection> {
  const transport = optional<typeof import('@nats-io/transport-node')>('@nats-io/transport-node', 'NATS connections');
  const servers = (Array.isArray(o.servers) ? o.servers : o.servers.split(',')).map((s) => s.trim()).filter(Boolean);
  const opts: Record<string, unknown> = { servers, name, maxReconnectAttempts: 10, timeout: 10_000 };
  if (o.inbox) opts.inboxPrefix = o.inbox;
  if (o.token !== undefined) opts.token = o.token;
  if (o.user !== undefined) [opts.user, opts.pass] = [o.user, o.password];
  if (o.nkey) opts.authenticator = transport.nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(readSecretFile(o.nkey, 'NKey seed')).trim()));
  if (o.creds) opts.authenticator = transport.credsAuthenticator(readSecretFile(o.creds, 'credentials'));
  const tls = o.tls ?? {};
  const wantsTls = tls.required || tls.ca || tls.cert || servers.some((s) => s.startsWith('tls://'));
  // Without TLS options a server that requires TLS is refused: no silent upgrade with other CAs.
  opts.tls = wantsTls ? { ...(tls.ca ? { caFile: tls.ca } : {}), ...(tls.cert ? { certFile: tls.cert, keyFile: tls.key } : {}) } : null;
  try {
    return await transport.connect(opts as Parameters<typeof transport.connect>[0]);
  } catch (e) {
    const err = e as Error & { code?: string };
    const text = `${err.message ?? err}${(err as { cause?: Error }).cause ? ` (${(err as { cause?: Error }).cause!.message})` : ''}`;
    const where = `the NATS server at ${serverList(o)}`;
    if (/authoriz|authenticat|permission|credentials|user.*expired|bad.*signature/i.test(text)) {
      throw new TorchError('ERR_AUTH', `${where} refused ${describeAuth(o)}: ${redactText(text, o)}`);
    }
    // A server that refuses a client certificate under TLS 1.3 says so after the handshake, which
    // the client library only sees as a timeout: ask the server directly what went wrong.
    const why = /timeout/i.test(text) && wantsTls ? await tlsDiagnosis(servers[0], tls) : null;
    if (why) throw new TorchError('ERR_AUTH', `TLS with ${where} failed (${describeAuth(o)}): ${why}`);
    if (/tls|ssl|certificate|secure/i.test(text)) {
      throw new TorchError('ERR_AUTH', `TLS with ${where} failed (${describeAuth(o)}): ${redactText(text, o)}`);
    }
    throw new TorchError('ERR_RUNTIME', `Cannot reach ${where}: ${redactText(text, o)}`);
  }
}

/** Connects as the NATS protocol does (INFO, then TLS) and reports how the server ends the TLS session, if it does. */
function tlsDiagnosis(server: string, tls: NatsTls): Promise<string | null> {
  const m = /^(?:\w+:\/\/)?(?:[^@/]*@)?([^:/]+)(?::(\d+))?/.exec(server);
  if (!m) return Promise.resolve(null);
  const [host, port] = [m[1], Number(m[2] ?? 4222)];
  return new Promise((resolve) => {
    const done = (v: string | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 3000);
    const sock = tcpConnect(port, host);
    sock.on('error', () => done(null));
    sock.once('data', () => {
      let secure;
      try {
        secure = tlsConnect({ socket: sock, servername: /^[\d.]+$/.test(host) ? undefined : host, ca: tls.ca ? readFileSync(tls.ca) : undefined, cert: tls.cert ? readFileSync(tls.cert) : undefined, key: tls.key ? readFileSync(tls.key) : undefined }, () => secure!.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'));
      } catch (e) {
        return done((e as Error).message);
      }
      secure.on('data', () => done(null));
      secure.on('error', (e: Error) => done(/certificate|alert|handshake/i.test(e.message) ? `the server ended the TLS session (${/alert [a-z ]+|certificate[a-z ]*/i.exec(e.message)?.[0].trim() ?? e.message}): does it know this client certificate's CA, and does it want one?` : null));
      secure.on('close', () => done(null));
    });
  });
}

/** A server's message with any secret of ours that it might echo taken out. */
function redactText(text: string, o: NatsOptions): string {
  let t = text;
  for (const s of [o.token, o.password]) if (s) t = t.split(s).join('***');
  return t;
}

/**
 * A server's refusal of what a connection tried (a subject or a JetStream API call outside its
 * permissions) as ERR_AUTH naming the method and the thing; other errors pass through.
 */
export function permissionError(e: unknown, o: NatsOptions, what: string): unknown {
  const text = (e as Error)?.message ?? String(e);
  if (!/permission/i.test(text)) return e;
  return new TorchError('ERR_AUTH', `${describeAuth(o)} may not ${what} on the NATS server at ${serverList(o)}: ${redactText(text, o)}`);
}
