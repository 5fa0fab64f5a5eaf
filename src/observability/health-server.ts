// The HTTP endpoints of one role: `/metrics` (Prometheus text format), `/healthz` (the process
// answers: liveness) and `/readyz` (200 only while Redis and the homeserver answer, else 503 with
// the reason per target). Plain node:http; nothing here reads secrets, and nothing it serves has any.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import type { Reachability } from './reachability.ts';

export interface HealthServerOptions {
  role: string;
  bindAddress: string;
  /** 0: any free port (the chosen one is logged and returned). */
  port: number;
  registry: Registry;
  reachability: Reachability;
  log: Logger;
}

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const log = opts.log.child({ module: 'health-server', role: opts.role });
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      log.error({ err, path: req.url }, 'health endpoint failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`metrics: cannot listen on ${opts.bindAddress}:${opts.port} for the ${opts.role} (${err.code ?? err.message}); set metrics.${opts.role}Port`, { cause: err })),
    );
    server.listen(opts.port, opts.bindAddress, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.bindAddress.includes(':') ? `[${opts.bindAddress}]` : opts.bindAddress;
  const url = `http://${host}:${port}`;
  log.info({ url, port }, 'metrics listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HealthServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  switch (path) {
    case '/metrics': {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body);
      return;
    }
    case '/healthz':
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: 'ok', role: opts.role })}\n`);
      return;
    case '/readyz': {
      const ready = opts.reachability.ready;
      const body = { status: ready ? 'ready' : 'not ready', role: opts.role, checks: opts.reachability.snapshot() };
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
  }
}
