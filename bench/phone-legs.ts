// `npm run bench:phone`: what bridged phone callers cost. One recorder (`all`, SIP enabled) and an
// E2EE call of two simulated Element Call peers; then --legs baresip phones (default 1, 4, 8)
// dial the conference number and enter the room's PIN, and the recorder's CPU (own and children)
// is measured over --seconds with every leg carrying audio both ways. Drops are counted where they
// can happen: frames the SIP legs dropped or concealed, and frames the callers' published tracks
// dropped or stalled on. Bounded: about 1.5 minutes per step; stops by itself.
import { dispose } from '@livekit/rtc-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sendLibraryLogsToFile } from '../scripts/library-log.ts';
import { Baresip, freePort } from '../test/helpers/baresip.ts';
import { registerUser, TestClient } from '../test/helpers/matrix.ts';
import { startRecorder, stackRecorderConfig } from '../test/helpers/recorder-process.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../test/helpers/rooms.ts';
import { startRtcPeer, type RtcPeer } from '../test/peers/rtc-peer.ts';
import { ensureStack } from '../test/stack/stack.ts';
import { cpuSeconds, sampleRss } from './process-tree.ts';

const { values } = parseArgs({ options: { legs: { type: 'string', default: '1,4,8' }, seconds: { type: 'string', default: '20' } } });
const steps = String(values.legs)
  .split(',')
  .map((n) => Math.min(16, Math.max(1, Number(n))));
const seconds = Math.min(120, Math.max(5, Number(values.seconds)));
const say = (line: string) => console.log(`[bench:phone] ${line}`);
say(`what the libraries log goes to ${sendLibraryLogsToFile('mrr-bench-phone-')}`);

const stack = await ensureStack();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const sipPort = await freePort();
const CONFERENCE = '2000';
const rows: string[] = [];

for (const legs of steps) {
  const bot = await startRecorder('all', stackRecorderConfig(stack, { logging: { level: 'info' }, sip: { enabled: true, port: sipPort, conferenceNumber: CONFERENCE, maxLegs: 16 } }));
  const peers: RtcPeer[] = [];
  const phones: Baresip[] = [];
  try {
    await bot.waitForLog((e) => e.msg === 'phone bridge ready', 'the phone bridge');
    const [a, b] = await Promise.all([registerUser(stack, 'bencha'), registerUser(stack, 'benchb')]);
    const owner = new TestClient(a!);
    const roomId = await createCallRoom(owner, { encrypted: true, invite: [b!.userId] });
    await joinRoom(new TestClient(b!), roomId);
    await inviteBot(owner, roomId, botUserId);
    peers.push(await startRtcPeer({ stack, roomId, user: a!, toneHz: 440, e2ee: 'keys' }), await startRtcPeer({ stack, roomId, user: b!, toneHz: 550, e2ee: 'keys' }));
    await owner.sendText(roomId, '!pin 24680');
    await owner.waitForMessage(roomId, botUserId, /PIN of this room is set/, 'the PIN', 30_000);
    for (let i = 0; i < legs; i++) {
      const phone = new Baresip({ sipPort: await freePort(), ctrlPort: await freePort(), rtpPortMin: 30_000 + i * 40, toneHz: 600 + 50 * i, user: `phone${i}` });
      phones.push(phone);
      await phone.start();
      await phone.command('dial', `sip:${CONFERENCE}@127.0.0.1:${sipPort}`);
      await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 'the answer');
      await sleep(800);
      for (const key of '24680#') {
        await phone.command('sndcode', key);
        await sleep(200);
      }
    }
    await bot.waitForLog((e) => e.msg === 'caller joined the call' && countLogs(bot.logs, 'caller joined the call') >= legs, `${legs} callers in the call`, 30_000 + legs * 10_000);
    await sleep(3_000); // keys exchanged, buffers settled
    const pid = bot.child.pid!;
    const rss = sampleRss(pid);
    const before = cpuSeconds(pid);
    await sleep(seconds * 1000);
    const after = cpuSeconds(pid);
    rss.stop();
    for (const phone of phones) await phone.command('hangup');
    await bot.waitForLog(() => countLogs(bot.logs, 'published track closed') >= legs, 'the callers to leave', 30_000);
    const own = after.own - before.own;
    const children = after.children - before.children;
    const legMinutes = (legs * seconds) / 60;
    const drops = dropCounts(bot.logs);
    const row =
      `${legs} leg(s): ${((own + children) / legMinutes).toFixed(2)} CPU-s per leg-minute (recorder ${own.toFixed(1)} CPU-s, children ${children.toFixed(1)} over ${seconds} s, ` +
      `${((100 * (own + children)) / seconds / 2).toFixed(0)} % of 2 cores); peak ${(rss.peakKiB() / 1024).toFixed(0)} MiB; ` +
      `SIP: ${drops.toPhoneDropped} frames to the phones and ${drops.fromPhoneDropped} from them dropped, ${drops.lost} packets lost, ${drops.underruns} send underruns; published tracks: ${drops.trackDropped} dropped, ${drops.stalls} captureFrame stalls`;
    rows.push(row);
    say(row);
  } finally {
    await bounded('stopping the phones', Promise.all(phones.map((phone) => phone.stop())));
    await bounded('stopping the peers', Promise.all(peers.map((p) => p.stop().catch(() => undefined))));
    await bounded('stopping the recorder', bot.stop());
  }
}
say('summary:');
for (const row of rows) say(`  ${row}`);
await bounded('releasing LiveKit', dispose());
process.exit(0);

/** Teardown that cannot hang the bench: a step still running after 30 s is reported and left. */
async function bounded(what: string, step: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 30_000)));
  if ((await Promise.race([step, late])) === 'late') say(`${what} took longer than 30 s; going on`);
  clearTimeout(timer);
}

function countLogs(logs: string[], msg: string): number {
  return logs.filter((l) => l.includes(`"msg":"${msg}"`)).length;
}

function dropCounts(logs: string[]) {
  const totals = { toPhoneDropped: 0, fromPhoneDropped: 0, lost: 0, underruns: 0, trackDropped: 0, stalls: 0 };
  for (const line of logs) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, any>;
    if (entry.msg === 'SIP leg ended' && entry.stats) {
      totals.toPhoneDropped += entry.stats.sendFramesDropped ?? 0;
      totals.fromPhoneDropped += entry.stats.receiveFramesDropped ?? 0;
      totals.lost += entry.stats.packetsLost ?? 0;
      // The silence a leg sends before its caller's audio starts flowing is an underrun too: reported, not judged.
      totals.underruns += entry.stats.sendUnderruns ?? 0;
    }
    if (entry.msg === 'published track closed') {
      totals.trackDropped += entry.framesDropped ?? 0;
      totals.stalls += entry.stalls ?? 0;
    }
  }
  return totals;
}
