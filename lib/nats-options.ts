/**
 * The options of a NATS connection, and where they come from (nats-connect.ts opens it):
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
 * Secrets are never printed and never written. `describeAuth()` names a method ("token", "user
 * 'worker' and password", "the NKey in /path") for messages, never its value, and `redact()`
 * masks a config before it is written. This module imports no NATS package: the public types
 * depend on nothing optional.
 */
import { TorchError } from './errors.ts';

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
