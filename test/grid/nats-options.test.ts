// NATS options (nats-connect.ts): where they come from, what wins, and that no secret is written
// into a run folder or printed in an error.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrainingPipeline, loadExperiment } from '../../lib/index.ts';
import { describeAuth, redact, resolveNats } from '../../lib/nats-connect.ts';

describe.runIf(process.env.TORCHLOOP_BUILD === 'main')('NATS options', () => {
  it('a flag wins over the config, the config over NATS_*; the auth method comes whole from one source', () => {
    const env = { NATS_URL: 'env-host:4222', NATS_USER: 'env-user', NATS_PASSWORD: 'env-pw', NATS_CA: '/env/ca.pem' };
    expect(resolveNats({ env })).toEqual({ servers: 'env-host:4222', user: 'env-user', password: 'env-pw', tls: { ca: '/env/ca.pem' } });
    expect(resolveNats({ env, config: { servers: 'cfg:4222', token: 'cfg-token', tls: { cert: '/c.pem', key: '/c.key' } } })).toEqual({ servers: 'cfg:4222', token: 'cfg-token', tls: { ca: '/env/ca.pem', cert: '/c.pem', key: '/c.key' } });
    expect(resolveNats({ env, config: { servers: 'cfg:4222', token: 'cfg-token' }, flags: { creds: '/me.creds', tls: { required: true } }, servers: 'flag:4222' })).toEqual({ servers: 'flag:4222', creds: '/me.creds', tls: { ca: '/env/ca.pem', required: true } });
    expect(resolveNats({ env: { NATS_INBOX: '_INBOX_sim' }, servers: 'h', config: { inbox: '_INBOX_cfg' } }).inbox).toBe('_INBOX_cfg');
    expect(() => resolveNats({ env: {}, servers: 'h', flags: { inbox: '_INBOX.>' } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/inbox prefix/) }));
    expect(() => resolveNats({ env: {} })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/No NATS server given/) }));
    expect(() => resolveNats({ env: {}, servers: 'h', flags: { token: 't', creds: '/c' } })).toThrow(expect.objectContaining({ message: 'Give one NATS auth method, not token and creds' }));
    expect(() => resolveNats({ env: {}, servers: 'h', flags: { password: 'p' } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/needs a user/) }));
    expect(() => resolveNats({ env: {}, servers: 'h', flags: { tls: { cert: '/c.pem' } } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/needs its key/) }));
  });

  it('errors and logs name the method, never the secret', () => {
    expect(describeAuth({ servers: 'h', user: 'worker', password: 'hunter2' })).toBe("user 'worker' and password");
    expect(describeAuth({ servers: 'h', token: 'hunter2', tls: { ca: '/ca.pem' } })).toBe('a token, TLS (CA /ca.pem)');
    expect(describeAuth({ servers: 'h', creds: '/a.creds' })).toBe('the credentials in /a.creds');
    expect(JSON.stringify(redact({ nats: { user: 'u', password: 'hunter2', token: 'tok', creds: '/a.creds' }, list: [{ token: 'x' }] }))).toBe('{"nats":{"user":"u","password":"***","token":"***","creds":"/a.creds"},"list":[{"token":"***"}]}');
  });

  it('a run whose config holds NATS secrets writes none of them: resolved config, checkpoints, stats, info', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-secret-'));
    writeFileSync(path.join(dir, 'exp.yaml'), `output: run\ndatabase: { file: d.sqlite }\nenvironment: { options: { nodes: 4, iterations: 5 } }\nnetwork: { mlp: { sizes: [4, 8, 4] } }\ntraining: { epochs: 2, batchSize: 8, batchesPerEpoch: 2 }\nvalidation: { samples: 8 }\ncheckpoint: { saveFrequency: 1 }\nnats: { servers: 127.0.0.1:4222, user: trainer, password: pw-Zq81-secret, tls: { ca: ca.pem } }\n`);
    const exp = loadExperiment(path.join(dir, 'exp.yaml'));
    await new TrainingPipeline(exp, { progress: false }).execute();
    const files: string[] = [];
    const visit = (p: string) => readdirSync(p).forEach((e) => (statSync(path.join(p, e)).isDirectory() ? visit(path.join(p, e)) : files.push(path.join(p, e))));
    visit(path.join(dir, 'run'));
    expect(files.some((f) => f.endsWith('config.resolved.yaml'))).toBe(true);
    expect(files.some((f) => f.endsWith('.json') && f.includes('checkpoints'))).toBe(true);
    for (const f of files) expect(readFileSync(f).toString('latin1').includes('pw-Zq81-secret'), f).toBe(false);
    expect(readFileSync(path.join(dir, 'run', 'config.resolved.yaml'), 'utf8')).toMatch(/password: "\*\*\*"/);
  });
});
