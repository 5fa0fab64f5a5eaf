// The per-participant key workaround on the real LiveKit server: rtc-node peers with Element
// Call's key provider settings decrypt each other only with the right key, set before or after
// the publisher connects.
import { randomBytes } from 'node:crypto';
import { AudioFrame, AudioSource, AudioStream, dispose, LocalAudioTrack, Room, RoomEvent, TrackKind, TrackPublishOptions, TrackSource, type RemoteTrack } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { elementCallE2eeOptions, setParticipantKey } from '../../src/media/livekit/participant-keys.ts';
import { dominantFrequency, toneSnrDb } from '../helpers/fft.ts';
import { readStackInfo } from '../stack/info.ts';
import { TONE_FRAME, TONE_RATE, toneGenerator } from '../peers/tone.ts';

const sfu = readStackInfo().sfus[0]!;
const rooms = new RoomServiceClient(sfu.livekitUrl.replace(/^ws/, 'http'), sfu.apiKey, sfu.apiSecret);
const open: Room[] = [];
afterAll(async () => {
  await Promise.all(open.map((r) => r.disconnect()));
  await dispose();
});

async function connect(room: string, identity: string): Promise<Room> {
  const token = new AccessToken(sfu.apiKey, sfu.apiSecret, { identity });
  token.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true });
  const lk = new Room();
  open.push(lk);
  await lk.connect(sfu.livekitUrl, await token.toJwt(), { autoSubscribe: true, dynacast: false, encryption: elementCallE2eeOptions() });
  return lk;
}

async function publishTone(lk: Room, hz: number) {
  const source = new AudioSource(TONE_RATE, 1, 200);
  await lk.localParticipant!.publishTrack(LocalAudioTrack.createAudioTrack('mic', source), new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
  const next = toneGenerator(hz);
  let running = true;
  void (async () => {
    while (running) await source.captureFrame(new AudioFrame(next(), TONE_RATE, 1, TONE_FRAME));
  })();
  return () => (running = false);
}

/** Collects `seconds` of the first remote audio track as mono PCM. */
function collect(lk: Room, seconds: number): Promise<Int16Array> {
  return new Promise((resolve) => {
    lk.once(RoomEvent.TrackSubscribed, async (track: RemoteTrack) => {
      if (track.kind !== TrackKind.KIND_AUDIO) return;
      const reader = new AudioStream(track, { sampleRate: 48_000, numChannels: 1 }).getReader();
      const out = new Int16Array(48_000 * seconds);
      let filled = 0;
      while (filled < out.length) {
        const { value, done } = await reader.read();
        if (done) break;
        out.set(value.data.subarray(0, out.length - filled), filled);
        filled += value.data.length;
      }
      await reader.cancel();
      resolve(out);
    });
  });
}

describe('per-participant keys in @livekit/rtc-node', () => {
  it.each([
    ['set before the publisher connects', true, 'right'],
    ['set after the publisher connects', false, 'right'],
    ['wrong key', true, 'wrong'],
  ] as const)('%s', async (_name, early, which) => {
    const room = `e2ee-${randomBytes(4).toString('hex')}`;
    await rooms.createRoom({ name: room });
    const key = randomBytes(16);
    const subscriber = await connect(room, 'subscriber');
    const heard = collect(subscriber, 3);
    if (early) setParticipantKey(subscriber, 'publisher', 0, which === 'right' ? key : randomBytes(16));
    const publisher = await connect(room, 'publisher');
    setParticipantKey(publisher, 'publisher', 0, key);
    const stop = await publishTone(publisher, 440);
    if (!early) setParticipantKey(subscriber, 'publisher', 0, which === 'right' ? key : randomBytes(16));
    const pcm = (await heard).subarray(48_000);
    stop();
    const snr = toneSnrDb(pcm, 48_000, 440);
    console.log(`[measure] ${_name}: dominant ${dominantFrequency(pcm, 48_000).toFixed(1)} Hz, tone SNR ${snr.toFixed(1)} dB`);
    if (which === 'right') expect(snr).toBeGreaterThan(20);
    else expect(snr).toBeLessThan(0);
  });
});
