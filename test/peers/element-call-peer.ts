// The most realistic test peer: the real Element Call app (standalone, as a person opens it in a
// browser) in Debian's Chromium, logged in as a test user, joining the call of an existing room
// with a fake microphone that plays a known tone. Everything Matrix and LiveKit (membership,
// transport discovery, JWT, Olm media keys, E2EE frames) is Element Call's own doing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext, type Locator, type Page, type Request } from 'playwright-core';
import type { TestUser } from '../helpers/matrix.ts';
import type { StackInfo } from '../stack/info.ts';
import { CHROMIUM_FLAGS } from './browser-peer.ts';
import { serveElementCall, shippedElementCallConfig, type ElementCallServer } from './element-call-server.ts';

/** Element Call's `matrix_rtc_mode` (config.json): legacy state memberships, or sticky events and /get_token. */
export type ElementCallMode = 'compatibility' | 'matrix_2_0';

export interface ElementCallPeerOptions {
  stack: StackInfo;
  /** An existing room (created with the power levels of createCallRoom) that `user` has joined. */
  roomId: string;
  user: TestUser;
  mode: ElementCallMode;
  /** Frequency of the sine the fake microphone plays. */
  toneHz: number;
  /** Keep the fake camera on (off by default: encoding video costs a core on this machine). */
  video?: boolean;
  /** How long Element Call may take to load, show the lobby and publish its membership. */
  joinTimeoutMs?: number;
}

export interface ElementCallPeer {
  /** The page's console, errors and failed requests, in order, each with seconds since start (for failure messages). */
  pageLog: string[];
  /** Method and path of every request Element Call made to Synapse and the authorizer (no /sync, no tokens). */
  wireLog: string[];
  /** Adds a line of the test's own to the page log (a step such as a command sent), to read both in order. */
  note(line: string): void;
  /** Hangs up in the app (membership left) and closes Chromium. */
  stop(): Promise<void>;
}

/** localStorage key under which standalone Element Call keeps its session (src/ClientContext.tsx). */
const SESSION_KEY = 'matrix-auth-store';
const PAGE_LOG_LIMIT = 20_000;

/** The config.json Element Call reads at start: our homeserver, the mode, the package's own defaults. */
export function elementCallConfig(stack: StackInfo, mode: ElementCallMode): Record<string, unknown> {
  return {
    ...shippedElementCallConfig(),
    default_server_config: { 'm.homeserver': { base_url: stack.synapse.url, server_name: stack.synapse.serverName } },
    // No livekit.livekit_service_url: Element Call must find the SFU through the homeserver's
    // MSC4143 transports endpoint as it would on a real deployment.
    matrix_rtc_mode: mode,
  };
}

/** A WAV that loops without a click: a whole number of periods in 10 s at 48 kHz. */
function writeToneWav(ffmpegPath: string, dir: string, hz: number): string {
  if (!Number.isInteger(hz * 10)) throw new Error(`a ${hz} Hz tone does not fit a whole number of periods in 10 s`);
  const path = join(dir, `tone-${hz}.wav`);
  execFileSync(ffmpegPath, ['-v', 'error', '-f', 'lavfi', '-i', `aevalsrc=0.3*sin(2*PI*${hz}*t):s=48000:d=10`, '-ac', '1', '-c:a', 'pcm_s16le', path]);
  return path;
}

/** Element Call logs its LiveKit JWT and js-sdk may log tokens: keep them out of test output. */
function redact(text: string): string {
  return text
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<jwt>')
    .replace(/syt_[\w-]+/g, '<access token>')
    .replace(/("(?:access_token|openid_token)"\s*:\s*)"[^"]*"/g, '$1"<token>"');
}

/** Path and query of a request, with any token-like query parameter removed. */
function describeRequest(request: Request): string {
  const url = new URL(request.url());
  for (const name of [...url.searchParams.keys()]) if (/token/i.test(name)) url.searchParams.set(name, '…');
  return `${request.method()} ${url.origin}${url.pathname}${url.search}`;
}

/** The PUT that publishes (not removes, not schedules the removal of) our call membership. */
function isMembershipPublish(request: Request, userId: string): boolean {
  if (request.method() !== 'PUT') return false;
  const url = new URL(request.url());
  if ([...url.searchParams.keys()].some((k) => k.endsWith('.delay'))) return false; // MSC4140 delayed leave
  const body = request.postData();
  if (!body || body === '{}') return false;
  const statePath = `/state/org.matrix.msc3401.call.member/`;
  if (url.pathname.includes(statePath)) return decodeURIComponent(url.pathname).includes(userId);
  // Sticky events (MSC4354): org.matrix.msc4143.rtc.member, or m.room.encrypted in an encrypted room.
  return url.pathname.includes('/send/') && [...url.searchParams.keys()].some((k) => k.endsWith('sticky_duration_ms'));
}

/** Hanging up: the scheduled leave sent at once (MSC4140), or an empty membership put directly. */
function isMembershipRemoval(request: Request): boolean {
  const url = new URL(request.url());
  if (request.method() === 'POST') return /\/delayed_events\/[^/]+\/send$/.test(url.pathname);
  return request.method() === 'PUT' && request.postData() === '{}' && /call\.member|sticky_duration_ms/.test(request.url());
}

/** Waits until a switch button is usable (not busy starting a device), then turns it on or off. */
async function setSwitch(button: Locator, on: boolean, timeoutMs: number): Promise<void> {
  await button.waitFor({ state: 'visible', timeout: timeoutMs });
  const deadline = Date.now() + timeoutMs;
  while ((await button.getAttribute('aria-busy')) === 'true' || !(await button.isEnabled())) {
    if (Date.now() > deadline) throw new Error(`the ${await button.getAttribute('data-testid')} button stayed busy for ${timeoutMs} ms`);
    await sleep(100);
  }
  if (((await button.getAttribute('aria-checked')) === 'true') !== on) await button.click();
}

export async function startElementCallPeer(opts: ElementCallPeerOptions): Promise<ElementCallPeer> {
  const joinTimeoutMs = opts.joinTimeoutMs ?? 90_000;
  const pageLog: string[] = [];
  const wireLog: string[] = [];
  const startedAt = Date.now();
  const log = (line: string) => {
    // Console messages carry no time; seconds since start order them against the test's steps.
    pageLog.push(`+${((Date.now() - startedAt) / 1000).toFixed(3)}s ${redact(line)}`);
    if (pageLog.length > PAGE_LOG_LIMIT) pageLog.splice(0, pageLog.length - PAGE_LOG_LIMIT);
  };
  const workDir = mkdtempSync(join(tmpdir(), 'mrr-element-call-'));
  let server: ElementCallServer | undefined;
  let context: BrowserContext | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context?.close().catch((err: unknown) => log(`closing Chromium failed: ${String(err)}`));
    await server?.close();
    rmSync(workDir, { recursive: true, force: true });
  };

  try {
    const wav = writeToneWav(opts.stack.ffmpegPath, workDir, opts.toneHz);
    server = await serveElementCall(elementCallConfig(opts.stack, opts.mode));
    context = await chromium.launchPersistentContext(join(workDir, 'profile'), {
      executablePath: opts.stack.chromiumPath,
      headless: true,
      args: [
        ...CHROMIUM_FLAGS,
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
      ],
      viewport: { width: 1000, height: 700 },
      reducedMotion: 'reduce',
    });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => log(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => log(`page error: ${error.message}`));
    page.on('requestfailed', (request) => log(`request failed: ${describeRequest(request)}: ${request.failure()?.errorText}`));
    page.on('websocket', (ws) => {
      const url = new URL(ws.url());
      wireLog.push(`+${((Date.now() - startedAt) / 1000).toFixed(3)}s WS ${url.origin}${url.pathname}`);
    });
    const backends = [new URL(opts.stack.synapse.url).origin, ...opts.stack.sfus.map((s) => new URL(s.authorizerUrl).origin)];
    let published: (() => void) | undefined;
    const membershipPublished = new Promise<void>((resolve) => (published = resolve));
    page.on('requestfinished', (request) => {
      const url = new URL(request.url());
      if (!backends.includes(url.origin) || url.pathname.endsWith('/sync')) return;
      void request.response().then((response) => {
        // Membership bodies in the clear say what the peer announced (they carry no secrets).
        const body = /call\.member|rtc\.member/.test(url.pathname) ? ` ${request.postData() ?? ''}` : '';
        wireLog.push(`+${((Date.now() - startedAt) / 1000).toFixed(3)}s ${describeRequest(request)} -> ${response?.status()}${body}`);
        if (response?.status() === 200 && isMembershipPublish(request, opts.user.userId)) published?.();
      }, (err: unknown) => log(`no response to ${describeRequest(request)}: ${String(err)}`)); // e.g. Chromium closed meanwhile
    });

    // A person who logged in before: Element Call restores this session instead of showing a login.
    const session = { user_id: opts.user.userId, device_id: opts.user.deviceId, access_token: opts.user.accessToken, passwordlessUser: false };
    await context.addInitScript(([key, value]) => localStorage.setItem(key, value), [SESSION_KEY, JSON.stringify(session)] as const);
    // A standalone room link: /room/ with the room id in the fragment (no alias needed).
    await page.goto(`${server.url}room/#?roomId=${encodeURIComponent(opts.roomId)}`);

    // Standalone Element Call always shows the lobby (skipLobby is for widgets): set up the
    // devices there as a person would, then join.
    const joinButton = page.getByTestId('lobby_joinCall');
    await joinButton.waitFor({ state: 'visible', timeout: joinTimeoutMs });
    // The lobby's microphone and camera buttons are switches (aria-checked = on); set them as
    // a person would once the devices have started.
    await setSwitch(page.getByTestId('incall_mute').first(), true, joinTimeoutMs);
    await setSwitch(page.getByTestId('incall_videomute').first(), Boolean(opts.video), joinTimeoutMs);
    await joinButton.click();

    await page.getByTestId('incall_leave').waitFor({ state: 'visible', timeout: joinTimeoutMs });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      membershipPublished,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no call membership published within ${joinTimeoutMs} ms`)), joinTimeoutMs))),
    ]).finally(() => clearTimeout(timer));
  } catch (err) {
    const shot = join(tmpdir(), `mrr-element-call-failure-${Date.now()}.png`);
    const page = context?.pages()[0];
    const saved = page ? await page.screenshot({ path: shot }).then(() => true, () => false) : false;
    await close();
    throw new Error(
      `Element Call (${opts.mode}) did not join the call: ${String(err)}` +
        `${saved ? `\nscreenshot: ${shot}` : ''}\nrequests:\n${wireLog.join('\n')}\npage log (last 150 lines):\n${pageLog.slice(-150).join('\n')}`,
    );
  }

  const browser = context;
  return {
    pageLog,
    wireLog,
    note: log,
    async stop() {
      if (closed) return;
      const page = browser.pages()[0];
      if (page) {
        // Hang up like a person, so Element Call removes its membership itself.
        const left = page.waitForRequest(isMembershipRemoval, { timeout: 10_000 });
        await page.getByTestId('incall_leave').click({ timeout: 5_000 }).catch((err: unknown) => log(`hanging up failed: ${String(err)}`));
        await left.then((r) => r.response()).catch((err: unknown) => log(`no membership removal seen: ${String(err)}`));
      }
      await close();
    },
  };
}
