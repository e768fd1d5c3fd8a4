/**
 * Every NATS connection torchloop opens (remote environments, their sink, `generate --nats`,
 * the grid's coordinator and workers) goes through connectNats(), with the options of
 * nats-options.ts. A refused authentication is one `ERR_AUTH` naming the server and the method.
 * It is not retried: the first connection fails fast and says why.
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { NatsConnection } from '@nats-io/transport-node';
import { TorchError } from './errors.ts';
import { optional } from './optional.ts';
import { describeAuth, serverList, type NatsOptions, type NatsTls } from './nats-options.ts';

export * from './nats-options.ts';

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
