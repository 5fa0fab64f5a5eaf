// A simulated Element Call peer whose media runs in headless Chromium with livekit-client, the
// browser SDK Element Call uses: the Matrix side (membership, Olm key exchange) from
// call-member.ts, the LiveKit side from browser/peer-page.js. Keys travel from js-sdk into the
// page's key provider exactly as Element Call hands them over: raw bytes, identity, index.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { type CallMember, type CallMemberOptions, joinCallAsMember } from './call-member.ts';

/** The flags every browser in this project's tests runs with (never a downloaded browser). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A tone without a user gesture; real host candidates instead of mDNS names on loopback.
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

const livekitDist = dirname(fileURLToPath(import.meta.resolve('livekit-client')));
const FILES: Record<string, { path: string; type: string }> = {
  '/livekit-client.umd.js': { path: join(livekitDist, 'livekit-client.umd.js'), type: 'text/javascript' },
  '/livekit-client.e2ee.worker.mjs': { path: join(livekitDist, 'livekit-client.e2ee.worker.mjs'), type: 'text/javascript' },
  '/peer-page.js': { path: fileURLToPath(new URL('./browser/peer-page.js', import.meta.url)), type: 'text/javascript' },
};
const PAGE = '<!doctype html><meta charset="utf-8"><title>peer</title><script src="/livekit-client.umd.js"></script><script src="/peer-page.js"></script>';

/** Serves the page and livekit-client on loopback (http://127.0.0.1 is a secure context). */
async function servePage(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const file = FILES[req.url ?? ''];
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    else if (file) res.writeHead(200, { 'content-type': file.type }).end(readFileSync(file.path));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

export interface BrowserPeerOptions extends CallMemberOptions {
  toneHz: number;
  chromiumPath: string;
  /** How the page turns raw keys into key material: HKDF like Element Call (default), or PBKDF2 like a misconfigured client. */
  keyDerivation?: 'hkdf' | 'pbkdf2';
  /** Subscribe to the other participants' audio and keep it (BrowserPeer.heard). */
  listen?: boolean;
}

/** What the page heard from one LiveKit identity, decrypted and decoded by Chromium. */
export interface HeardAudio {
  identity: string;
  /** Wall-clock time (ms) of the first sample. */
  startedAt: number;
  /** 48 kHz mono. */
  pcm: Int16Array;
}

export interface BrowserPeer extends Pick<CallMember, 'client' | 'session' | 'identity' | 'livekitRoom' | 'ownKeys' | 'onMemberKey'> {
  /** What the page logged and the room events it saw (for failure messages). */
  pageLog: string[];
  /** Audio heard so far, per remote identity (only with `listen`). */
  heard(): Promise<HeardAudio[]>;
  stop(): Promise<void>;
}

export async function startBrowserPeer(opts: BrowserPeerOptions): Promise<BrowserPeer> {
  const member = await joinCallAsMember(opts);
  const { server, url } = await servePage();
  const profile = mkdtempSync(join(tmpdir(), 'mrr-chromium-'));
  let context: BrowserContext | undefined;
  const pageLog: string[] = [];
  const closeBrowser = async () => {
    await context?.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: opts.chromiumPath, headless: true, args: CHROMIUM_FLAGS });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => pageLog.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => pageLog.push(`page error: ${error.message}`));
    await page.goto(url);
    const started = await page.evaluate((args) => (window as unknown as { peer: { start(a: unknown): Promise<{ audioState: string }> } }).peer.start(args), {
      url: member.livekit.url,
      jwt: member.livekit.jwt,
      toneHz: opts.toneHz,
      e2ee: Boolean(opts.e2ee),
      keyDerivation: opts.keyDerivation ?? 'hkdf',
      listen: Boolean(opts.listen),
    });
    if (started.audioState !== 'running') throw new Error(`the page's AudioContext is ${started.audioState}, so no tone would play`);
    const setKey = (identity: string, index: number, key: Uint8Array) =>
      void page
        .evaluate(([bytes, id, i]) => (window as unknown as { peer: { setKey(b: readonly number[], id: string, i: number): Promise<void> } }).peer.setKey(bytes, id, i), [[...key], identity, index] as const)
        .catch((err: unknown) => pageLog.push(`setKey failed: ${String(err)}`));
    member.onOwnKey(({ index, key }) => setKey(member.identity, index, key));
    member.onMemberKey((identity, { index, key }) => setKey(identity, index, key));
  } catch (err) {
    await closeBrowser();
    member.abandon();
    throw new Error(`the browser peer did not start: ${String(err)}\npage log:\n${pageLog.join('\n')}`);
  }
  const browser = context;
  return {
    client: member.client,
    session: member.session,
    identity: member.identity,
    livekitRoom: member.livekitRoom,
    ownKeys: member.ownKeys,
    onMemberKey: member.onMemberKey,
    pageLog,
    async heard() {
      const page = browser.pages()[0];
      if (!page) return [];
      const raw = await page.evaluate(() => (window as unknown as { peer: { heard(): Array<{ identity: string; startedAt: number; pcm: string }> } }).peer.heard());
      return raw.map((h) => {
        const bytes = Buffer.from(h.pcm, 'base64');
        const pcm = new Int16Array(bytes.length / 2);
        new Uint8Array(pcm.buffer).set(bytes);
        return { identity: h.identity, startedAt: h.startedAt, pcm };
      });
    },
    async stop() {
      await browser.pages()[0]?.evaluate(() => (window as unknown as { peer: { stop(): Promise<void> } }).peer.stop()).catch((err: unknown) => pageLog.push(`stop failed: ${String(err)}`));
      await closeBrowser();
      await member.leave();
    },
  };
}
