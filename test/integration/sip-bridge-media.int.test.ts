// Issue 11, the SIP half on its own (no Matrix): the bridge's SIP endpoint against baresip 1.0.0
// from Debian, a SIP phone no one here wrote, run headless on loopback with its own config. Proved
// by content: baresip's tone (ausine) is the dominant frequency of what the leg receives, and the
// leg's tone is the dominant frequency of what baresip recorded hearing (sndfile). DTMF both ways
// (RFC 4733), BYE from each side, refusals with the right status, and latency/CPU measured.
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { SipEndpoint, type CodecName, type InviteInfo, type SipEndpointConfig, type SipLeg } from '../../src/bridge/sip/index.ts';
import { decodeToPcm } from '../helpers/audio-files.ts';
import { Baresip, freePort } from '../helpers/baresip.ts';
import { Kamailio, TRUNK_USERS } from '../helpers/kamailio.ts';
import { dominantFrequency, rms, toneSnrDb } from '../helpers/fft.ts';

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const BARESIP_TONE = 440;
const LEG_TONE = 1000;
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const randomBase = () => 30_000 + 2 * Math.floor(Math.random() * 10_000);
/** baresip's 20-port RTP range, apart from the endpoint's and below 65535 (beyond it baresip cannot bind and answers 500 Call Error). */
const phoneRtpBase = () => 50_000 + 2 * Math.floor(Math.random() * 7_000);

async function startEndpoint(overrides: Partial<SipEndpointConfig> = {}, logger = log): Promise<{ endpoint: SipEndpoint; port: number; calls: { leg: SipLeg; info: InviteInfo }[]; invites: InviteInfo[] }> {
  const port = await freePort();
  const calls: { leg: SipLeg; info: InviteInfo }[] = [];
  const invites: InviteInfo[] = [];
  const rtpMin = randomBase();
  const endpoint = await SipEndpoint.start(
    {
      listen: { address: '127.0.0.1', port },
      rtp: { portMin: rtpMin, portMax: rtpMin + 200 },
      onInvite: (info) => {
        invites.push(info);
        return info.requestUser === 'room1' ? { accept: true } : { accept: false, status: 404, reason: 'No Such Room' };
      },
      onCall: (leg, info) => void calls.push({ leg, info }),
      ...overrides,
    },
    logger,
  );
  cleanups.push(() => endpoint.stop());
  return { endpoint, port, calls, invites };
}

async function startBaresip(opts: { toneHz?: number; codecModules?: string[]; echo?: boolean; registrar?: { port: number; password: string } } = {}): Promise<Baresip> {
  const bs = new Baresip({ sipPort: await freePort(), ctrlPort: await freePort(), rtpPortMin: phoneRtpBase(), toneHz: opts.toneHz ?? BARESIP_TONE, ...(opts.codecModules ? { codecModules: opts.codecModules } : {}), ...(opts.echo ? { echo: true } : {}), ...(opts.registrar ? { registrar: opts.registrar } : {}) });
  await bs.start();
  cleanups.push(() => bs.stop());
  return bs;
}

/** Sends a tone to the leg in 10 ms frames on a deadline clock, as a mixer would; `startAtMs` of silence first. */
function sendTone(leg: SipLeg, hz: number, opts: { startAtMs?: number; amplitude?: number } = {}): { stop: () => void; toneStartedAt: () => number | undefined } {
  const start = performance.now();
  let n = 0;
  let toneStartedAt: number | undefined;
  let timer: NodeJS.Timeout;
  const tick = () => {
    const due = Math.floor((performance.now() - start) / 10);
    while (n <= due && !leg.isEnded) {
      const frame = new Int16Array(480);
      if (n * 10 >= (opts.startAtMs ?? 0)) {
        toneStartedAt ??= performance.now();
        for (let i = 0; i < 480; i++) frame[i] = Math.round((opts.amplitude ?? 8000) * Math.sin((2 * Math.PI * hz * (n * 480 + i)) / 48_000));
      }
      leg.send(frame);
      n++;
    }
    if (!leg.isEnded) timer = setTimeout(tick, start + n * 10 - performance.now());
  };
  tick();
  return { stop: () => clearTimeout(timer), toneStartedAt: () => toneStartedAt };
}

/** Collects received frames with their arrival times until `count` frames are in (or the leg ends). */
async function receive(leg: SipLeg, count: number): Promise<{ pcm: Int16Array; arrivals: number[] }> {
  const frames: Int16Array[] = [];
  const arrivals: number[] = [];
  for await (const f of leg.frames) {
    frames.push(f);
    arrivals.push(performance.now());
    if (frames.length >= count) break;
  }
  const pcm = new Int16Array(frames.length * 480);
  frames.forEach((f, i) => pcm.set(f, i * 480));
  return { pcm, arrivals };
}

function heardByBaresip(bs: Baresip): Int16Array {
  const files = bs.heardFiles();
  expect(files, `baresip recorded what it heard; log:\n${bs.log.slice(-2000)}`).toHaveLength(1);
  return decodeToPcm(files[0]!);
}

function describeTone(pcm: Int16Array, hz: number): string {
  return `dominant ${dominantFrequency(pcm, 48_000).toFixed(1)} Hz, ${toneSnrDb(pcm, 48_000, hz).toFixed(1)} dB SNR at ${hz} Hz, RMS ${rms(pcm).toFixed(0)}`;
}

const cpuPercent = (u: NodeJS.CpuUsage, wallMs: number) => ((u.user + u.system) / 1000 / wallMs) * 100;

describe('SIP endpoint against baresip', () => {
  for (const codec of ['PCMU', 'PCMA', 'opus'] as CodecName[]) {
    it(`answers baresip's call with ${codec}: each side hears the other's tone, baresip's BYE ends the leg`, async () => {
      const { port, calls } = await startEndpoint({ codecs: [codec] });
      const bs = await startBaresip();
      const dialled = await bs.command('dial', `sip:room1@127.0.0.1:${port}`);
      expect(dialled.ok).toBe(true);
      await bs.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established');
      expect(calls).toHaveLength(1);
      const { leg, info } = calls[0]!;
      expect(leg.codec).toBe(codec);
      expect(info.from.user).toBe('baresip');
      expect(info.requestUser).toBe('room1');
      expect(leg.remoteParty.uri).toMatch(/^sip:baresip@127\.0\.0\.1/);

      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const sender = sendTone(leg, LEG_TONE);
      const got = await receive(leg, 300); // 3 s
      const cpu = cpuPercent(process.cpuUsage(cpuBefore), performance.now() - wallBefore);
      await bs.command('hangup');
      const end = await leg.ended;
      sender.stop();
      await bs.stop(); // flushes its WAV
      expect(end).toEqual({ by: 'remote', reason: 'BYE' });

      const legHeard = got.pcm.subarray(48_000); // after the first second
      const phoneHeard = heardByBaresip(bs);
      const phoneSteady = phoneHeard.subarray(48_000, phoneHeard.length - 24_000);
      console.log(`[measure] inbound ${codec}: leg heard ${describeTone(legHeard, BARESIP_TONE)}; baresip heard ${(phoneHeard.length / 48_000).toFixed(1)} s, ${describeTone(phoneSteady, LEG_TONE)}; ` +
        `CPU ${cpu.toFixed(1)} % of a core for this process during the call (tone generation included); stats ${JSON.stringify(leg.stats)}`);
      expect(dominantFrequency(legHeard, 48_000)).toBeCloseTo(BARESIP_TONE, -1);
      expect(toneSnrDb(legHeard, 48_000, BARESIP_TONE)).toBeGreaterThan(15);
      expect(dominantFrequency(phoneSteady, 48_000)).toBeCloseTo(LEG_TONE, -1);
      expect(toneSnrDb(phoneSteady, 48_000, LEG_TONE)).toBeGreaterThan(15);
      expect(leg.stats.packetsForeign).toBe(0);
    });
  }

  it('dials out to baresip, which answers by itself: both tones cross, our BYE ends baresip\'s call', async () => {
    const { endpoint } = await startEndpoint();
    const bs = await startBaresip();
    const leg = await endpoint.dial(`sip:baresip@127.0.0.1:${bs.opts.sipPort}`, { displayName: 'Bridge test' });
    expect(leg.direction).toBe('outbound');
    expect(['opus', 'PCMU', 'PCMA']).toContain(leg.codec);
    const sender = sendTone(leg, LEG_TONE);
    const got = await receive(leg, 300);
    const incoming = await bs.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established');
    const end = await leg.hangup('test over');
    sender.stop();
    await bs.waitEvent((e) => e.type === 'CALL_CLOSED', 'baresip seeing our BYE');
    await bs.stop();
    expect(end).toEqual({ by: 'local', reason: 'test over' });
    const legHeard = got.pcm.subarray(48_000);
    const phoneHeard = heardByBaresip(bs);
    const phoneSteady = phoneHeard.subarray(48_000, phoneHeard.length - 24_000);
    console.log(`[measure] dial-out ${leg.codec} (baresip saw ${incoming.peeruri}): leg heard ${describeTone(legHeard, BARESIP_TONE)}; baresip heard ${describeTone(phoneSteady, LEG_TONE)}; stats ${JSON.stringify(leg.stats)}`);
    expect(dominantFrequency(legHeard, 48_000)).toBeCloseTo(BARESIP_TONE, -1);
    expect(toneSnrDb(legHeard, 48_000, BARESIP_TONE)).toBeGreaterThan(15);
    expect(dominantFrequency(phoneSteady, 48_000)).toBeCloseTo(LEG_TONE, -1);
    expect(toneSnrDb(phoneSteady, 48_000, LEG_TONE)).toBeGreaterThan(15);
  });

  it('carries DTMF both ways as RFC 4733 events', async () => {
    const { port, calls } = await startEndpoint({ codecs: ['PCMU'] });
    const bs = await startBaresip();
    await bs.command('dial', `sip:room1@127.0.0.1:${port}`);
    await bs.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established');
    const { leg } = calls[0]!;
    const sender = sendTone(leg, LEG_TONE);
    const received: string[] = [];
    leg.on('dtmf', (digit, via) => received.push(`${digit}/${via}`));
    const gotAll = new Promise<void>((resolve) => leg.on('dtmf', () => received.length === 4 && resolve()));
    for (const digit of ['1', '9', '*', '#']) {
      await bs.command('sndcode', digit);
      await new Promise((r) => setTimeout(r, 250)); // baresip sends one digit per command; keep them apart as a person would
    }
    await gotAll;
    expect(received).toEqual(['1/rfc4733', '9/rfc4733', '*/rfc4733', '#/rfc4733']);

    await leg.sendDtmf('4071#');
    const dtmfStarts = () => bs.events.filter((e) => e.type === 'CALL_DTMF_START').map((e) => e.param);
    await bs.waitEvent(() => dtmfStarts().length >= 5, 'five DTMF digits at baresip');
    console.log(`[measure] DTMF: leg received ${received.join(' ')}; baresip reported ${dtmfStarts().join(' ')}`);
    expect(dtmfStarts()).toEqual(['4', '0', '7', '1', '#']);
    sender.stop();
    // Our BYE on an inbound leg: baresip's call closes.
    expect(await leg.hangup()).toEqual({ by: 'local', reason: 'hangup' });
    await bs.waitEvent((e) => e.type === 'CALL_CLOSED', 'baresip seeing our BYE');
  });

  it('refuses a source outside allowedSources with 403 and an unknown number with 404', async () => {
    const closed = async (bs: Baresip) => (await bs.waitEvent((e) => e.type === 'CALL_CLOSED', 'the call closed')).param ?? '';
    const strict = await startEndpoint({ allowedSources: ['10.0.0.0/8'] });
    const bs1 = await startBaresip();
    await bs1.command('dial', `sip:room1@127.0.0.1:${strict.port}`);
    const reason403 = await closed(bs1);
    expect(strict.invites).toHaveLength(0); // never reached the room mapping

    const open = await startEndpoint({ allowedSources: ['127.0.0.0/8'] });
    const bs2 = await startBaresip();
    await bs2.command('dial', `sip:nosuchroom@127.0.0.1:${open.port}`);
    const reason404 = await closed(bs2);
    console.log(`[measure] refusals as baresip reported them: "${reason403}" and "${reason404}"`);
    expect(reason403).toMatch(/403/);
    expect(reason404).toMatch(/404/);
    expect(open.calls).toHaveLength(0);
  });

  /** Arrival time of the first received frame carrying the tone (RMS well above silence), or undefined. */
  function onsetAt(got: { pcm: Int16Array; arrivals: number[] }, hz: number, after = 0): number | undefined {
    for (let i = 0; i < got.arrivals.length; i++) {
      if (got.arrivals[i]! < after) continue;
      const f = got.pcm.subarray(i * 480, (i + 1) * 480);
      if (rms(f) > 1500 && Math.abs(dominantFrequency(got.pcm.subarray(i * 480, (i + 4) * 480), 48_000) - hz) < 100) return got.arrivals[i];
    }
    return undefined;
  }

  for (const codec of ['PCMU', 'opus'] as CodecName[]) {
    it(`measures the round trip through an echoing baresip (${codec}): the leg's tone comes back`, async () => {
      const { endpoint } = await startEndpoint({ codecs: [codec] });
      const bs = await startBaresip({ echo: true });
      const leg = await endpoint.dial(`sip:baresip@127.0.0.1:${bs.opts.sipPort}`);
      const sender = sendTone(leg, LEG_TONE, { startAtMs: 1500 });
      const got = await receive(leg, 300);
      sender.stop();
      await leg.hangup();
      const started = sender.toneStartedAt()!;
      const back = onsetAt(got, LEG_TONE, started);
      const echoed = got.pcm.subarray(200 * 480);
      console.log(`[measure] round trip ${codec} through baresip (its jitter buffer 20-160 ms, aubridge echo): tone onset back after ${back === undefined ? 'never' : Math.round(back - started)} ms; echoed audio ${describeTone(echoed, LEG_TONE)}`);
      expect(back).toBeDefined();
      expect(dominantFrequency(echoed, 48_000)).toBeCloseTo(LEG_TONE, -1);
    });
  }

  it('measures one-way mouth-to-ear between two endpoints (our send queue, packetising, UDP, decoding) and CPU per leg', async () => {
    const a = await startEndpoint({ codecs: ['PCMU'] });
    const b = await startEndpoint({ codecs: ['PCMU'] });
    const legA = await a.endpoint.dial(`sip:room1@127.0.0.1:${b.port}`);
    const legB = b.calls[0]!.leg;
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const toB = sendTone(legA, LEG_TONE, { startAtMs: 1000 });
    const toA = sendTone(legB, BARESIP_TONE, { startAtMs: 1500 });
    const [atB, atA] = await Promise.all([receive(legB, 300), receive(legA, 300)]);
    const cpu = cpuPercent(process.cpuUsage(cpuBefore), performance.now() - wallBefore);
    toB.stop();
    toA.stop();
    await legA.hangup();
    expect(await legB.ended).toEqual({ by: 'remote', reason: 'BYE' });
    const ab = onsetAt(atB, LEG_TONE, toB.toneStartedAt()!)! - toB.toneStartedAt()!;
    const ba = onsetAt(atA, BARESIP_TONE, toA.toneStartedAt()!)! - toA.toneStartedAt()!;
    console.log(`[measure] endpoint to endpoint, PCMU: one-way ${Math.round(ab)} ms (A→B) and ${Math.round(ba)} ms (B→A); ${cpu.toFixed(1)} % of a core for 2 legs (≈ ${(cpu / 2).toFixed(1)} % per leg, tone generation included)`);
    expect(ab).toBeGreaterThan(0);
    expect(ba).toBeGreaterThan(0);
  });
});

describe('SIP endpoint: CANCEL and load', () => {
  it('answers a CANCEL during a slow onInvite with 487 and never creates the leg', async () => {
    let decide!: (d: { accept: true }) => void;
    let text = '';
    const logger = pino({ level: 'info' }, { write: (s: string) => void (text += s) });
    const { port, calls, invites } = await startEndpoint({ onInvite: (info) => (invites.push(info), new Promise((r) => (decide = r))) }, logger);
    const bs = await startBaresip();
    await bs.command('dial', `sip:room1@127.0.0.1:${port}`);
    for (let i = 0; invites.length === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    expect(invites).toHaveLength(1);
    await bs.command('hangup'); // baresip CANCELs its unanswered INVITE
    for (let i = 0; !text.includes('cancelled by the caller') && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    decide({ accept: true }); // too late: the decision is ignored
    await new Promise((r) => setTimeout(r, 300));
    expect(text).toContain('inbound call cancelled by the caller');
    expect(calls).toHaveLength(0);
    await bs.waitEvent((e) => e.type === 'CALL_CLOSED', 'baresip closing its cancelled call');
  });

  it('hangs up a leg whose phone was killed with SIGKILL (no BYE) once its media stops for mediaTimeoutMs', async () => {
    const { port, calls } = await startEndpoint({ mediaTimeoutMs: 2000 });
    const bs = await startBaresip();
    await bs.command('dial', `sip:room1@127.0.0.1:${port}`);
    await bs.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established');
    const { leg } = calls[0]!;
    const got = await receive(leg, 100);
    expect(dominantFrequency(got.pcm.subarray(24_000), 48_000)).toBeCloseTo(BARESIP_TONE, -1);
    await bs.kill9();
    const killedAt = performance.now();
    const end = await leg.ended;
    console.log(`[measure] phone killed with SIGKILL: leg ended ${Math.round(performance.now() - killedAt)} ms later: ${JSON.stringify(end)}`);
    expect(end.by).toBe('local');
    expect(end.reason).toMatch(/^no media from the far end for \d+ s$/);
  });

  for (const codec of ['PCMU', 'opus'] as CodecName[]) {
    it(`carries 10 ${codec} calls (20 legs, both ends in this process) for 5 s and reports drops and CPU`, async () => {
      const a = await startEndpoint({ codecs: [codec] });
      const b = await startEndpoint({ codecs: [codec] });
      const pairs = 10;
      const legsA = await Promise.all(Array.from({ length: pairs }, () => a.endpoint.dial(`sip:room1@127.0.0.1:${b.port}`)));
      const legsB = b.calls.map((c) => c.leg);
      expect(legsB).toHaveLength(pairs);
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const senders = [...legsA.map((l) => sendTone(l, LEG_TONE)), ...legsB.map((l) => sendTone(l, BARESIP_TONE))];
      const dropsAt = (label: string) => `${label}: ${[...legsA, ...legsB].reduce((t, l) => t + l.stats.sendFramesDropped, 0)}/${[...legsA, ...legsB].reduce((t, l) => t + l.stats.sendUnderruns, 0)}`;
      const timeline: string[] = [dropsAt('start')];
      const probe = setInterval(() => timeline.push(dropsAt(`${Math.round(performance.now() - wallBefore)} ms`)), 1000);
      const received = await Promise.all([...legsB.map((l) => receive(l, 500)), ...legsA.map((l) => receive(l, 500))]);
      clearInterval(probe);
      console.log(`[measure] send drops/underruns over time: ${timeline.join(', ')}`);
      const wall = performance.now() - wallBefore;
      const cpu = cpuPercent(process.cpuUsage(cpuBefore), wall);
      senders.forEach((s) => s.stop());
      const stats = [...legsA, ...legsB].map((l) => l.stats);
      const sum = (k: keyof (typeof stats)[number]) => stats.reduce((t, s) => t + (s[k] as number), 0);
      await Promise.all(legsA.map((l) => l.hangup()));
      console.log(`[measure] ${pairs * 2} ${codec} legs in one process for ${(wall / 1000).toFixed(1)} s: CPU ${cpu.toFixed(0)} % of a core (≈ ${(cpu / (pairs * 2)).toFixed(1)} % per leg, tone generation included); ` +
        `lost ${sum('packetsLost')}, late ${sum('packetsLate')}, send drops ${sum('sendFramesDropped')}, send underruns ${sum('sendUnderruns')}, receive drops ${sum('receiveFramesDropped')}`);
      // Content on every leg: the B side hears 1000 Hz, the A side 440 Hz.
      received.forEach((r, i) => expect(dominantFrequency(r.pcm.subarray(96_000), 48_000)).toBeCloseTo(i < pairs ? LEG_TONE : BARESIP_TONE, -1));
    });
  }
});

describe('SIP endpoint through a trunk (Kamailio from Debian, digest authentication)', () => {
  async function startTrunk(maxExpires?: number): Promise<Kamailio> {
    const k = new Kamailio(await freePort(), maxExpires ? { maxExpires } : {});
    await k.start();
    cleanups.push(() => k.stop());
    return k;
  }
  function capturingLogger(): { logger: typeof log; text: () => string } {
    let text = '';
    return { logger: pino({ level: 'debug' }, { write: (s: string) => void (text += s) }), text: () => text };
  }
  const trunkOf = (k: Kamailio, password: string = TRUNK_USERS.bridge) => ({ proxy: `sip:127.0.0.1:${k.port}`, domain: '127.0.0.1', username: 'bridge', password });

  it('registers with digest authentication and refreshes before the granted lifetime runs out; a wrong password is reported, not logged', async () => {
    const kam = await startTrunk(10);
    const captured = capturingLogger();
    const wrong = await startEndpoint({ trunk: { ...trunkOf(kam, 'not-the-password'), register: false } }, captured.logger);
    expect(await wrong.endpoint.register()).toBe(false);
    expect(wrong.endpoint.registrationState.lastError).toMatch(/REGISTER answered 401/);
    await wrong.endpoint.stop();

    const right = await startEndpoint({ trunk: { ...trunkOf(kam), register: true, registerExpires: 60 } }, captured.logger);
    // The registrar grants at most 10 s, so a refresh follows at 8 s.
    for (let i = 0; right.endpoint.registrationState.successes < 2 && i < 300; i++) await new Promise((r) => setTimeout(r, 100));
    const state = right.endpoint.registrationState;
    console.log(`[measure] registration: ${JSON.stringify(state)}; Kamailio saw ${kam.lines('REGISTERED').length} successful REGISTERs`);
    expect(state).toMatchObject({ registered: true, grantedSeconds: 10 });
    expect(state.successes).toBeGreaterThanOrEqual(2);
    expect(kam.lines('REGISTERED').length).toBeGreaterThanOrEqual(2);
    // Digest responses reached the registrar, the passwords never reached our log.
    expect(kam.lines('REQUEST').some((l) => /auth=Digest .*username="bridge"/.test(l))).toBe(true);
    expect(captured.text()).not.toContain(TRUNK_USERS.bridge);
    expect(captured.text()).not.toContain('not-the-password');
    expect(captured.text()).toContain('registered with the SIP trunk');
  });

  it('dials a number through the trunk (407 answered with digest) to a registered baresip, and is called through it', async () => {
    const kam = await startTrunk();
    const captured = capturingLogger();
    const { endpoint, calls, invites } = await startEndpoint({ trunk: { ...trunkOf(kam), register: true }, onInvite: (info) => (invites.push(info), { accept: true }) }, captured.logger);
    const bs = await startBaresip({ registrar: { port: kam.port, password: TRUNK_USERS.baresip } });
    // Its REGISTER_OK event can come before ctrl_tcp is connected: read its log instead.
    await bs.waitLog(/baresip@127\.0\.0\.1: \{0\/UDP\/v4\} 200 OK/, 'baresip registered with Kamailio');
    for (let i = 0; !endpoint.registrationState.registered && i < 100; i++) await new Promise((r) => setTimeout(r, 100));

    const out = await endpoint.dial('baresip');
    const sender = sendTone(out, LEG_TONE);
    const got = await receive(out, 200);
    await out.hangup();
    sender.stop();
    await bs.waitEvent((e) => e.type === 'CALL_CLOSED', 'baresip seeing our BYE through the proxy');
    const heardOut = got.pcm.subarray(48_000);
    console.log(`[measure] dial-out through Kamailio (${out.codec}): leg heard ${describeTone(heardOut, BARESIP_TONE)}; Kamailio relayed ${kam.lines('RELAY').length} INVITE(s)`);
    expect(dominantFrequency(heardOut, 48_000)).toBeCloseTo(BARESIP_TONE, -1);
    expect(kam.lines('REQUEST').some((l) => /REQUEST INVITE .*auth=.*Digest .*username="bridge"/.test(l))).toBe(true);

    await bs.command('dial', `sip:bridge@127.0.0.1:${kam.port}`);
    for (let i = 0; calls.length === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 100));
    expect(calls).toHaveLength(1);
    const inbound = calls[0]!.leg;
    expect(invites.at(-1)!.from.user).toBe('baresip');
    const got2 = await receive(inbound, 200);
    await bs.command('hangup');
    expect(await inbound.ended).toEqual({ by: 'remote', reason: 'BYE' });
    const heardIn = got2.pcm.subarray(48_000);
    console.log(`[measure] inbound through Kamailio (${inbound.codec}): leg heard ${describeTone(heardIn, BARESIP_TONE)}`);
    expect(dominantFrequency(heardIn, 48_000)).toBeCloseTo(BARESIP_TONE, -1);
    expect(captured.text()).not.toContain(TRUNK_USERS.bridge);
  });
});

