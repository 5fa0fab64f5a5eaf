// Serves the real Element Call app (the dist of @element-hq/element-call-embedded) on loopback
// with a config.json of the test's choosing. The dist is built with relative asset URLs, so the
// standalone room page at /room/ asks for /room/assets/...; every path whose last folder is
// `assets` is answered from the dist's assets, every other path with index.html (a single-page
// app routes on the client). Element Call reads /config.json when its path ends in /room/.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.resolve('@element-hq/element-call-embedded/package.json'))), 'dist');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  // WebAssembly.instantiateStreaming refuses any other type (the Rust crypto and the blur model).
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.map': 'application/json',
  '.tflite': 'application/octet-stream',
};

/** The config.json the package ships (its defaults for embedded use), to start from. */
export function shippedElementCallConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(DIST, 'config.json'), 'utf8')) as Record<string, unknown>;
}

export interface ElementCallServer {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:41234/ (loopback is a secure context). */
  url: string;
  close(): Promise<void>;
}

export async function serveElementCall(config: Record<string, unknown>): Promise<ElementCallServer> {
  const index = readFileSync(join(DIST, 'index.html'));
  const configJson = JSON.stringify(config);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://loopback').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(configJson);
      return;
    }
    const asset = /\/assets\/([\w.-]+)$/.exec(path)?.[1];
    if (asset !== undefined) {
      const file = join(DIST, 'assets', asset);
      const type = TYPES[extname(asset)];
      if (!type || !existsSync(file)) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
      return;
    }
    if (extname(path) !== '') {
      res.writeHead(404).end(); // favicon and the like: the dist has none
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(index);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
