import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe } from './http-probe.ts';

describe('httpProbe', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(status: number): Promise<string> {
    server = createServer((_req, res) => res.writeHead(status).end('OK'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it('up for LiveKit\'s "OK" and for a 404 (a server is there); down for a proxy\'s 502 and for a refused connection', async () => {
    const signal = new AbortController().signal;
    expect(await httpProbe(await serve(200), signal)).toBe('up');
    server!.close();
    expect(await httpProbe(await serve(404), signal)).toBe('up');
    server!.close();
    const url = await serve(502);
    expect(await httpProbe(url, signal)).toBe('down');
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await httpProbe(url, signal)).toBe('down');
  });
});
