// Issue 14, item 5, on the real stack in an E2EE room: two peers each speak a known sentence
// (espeak-ng) at known times; `!record transcript` yields WebVTT captions and a text file in which
// each sentence comes back under its speaker's name at the time it was spoken, recognised by the
// local pocketsphinx backend from that speaker's stem. Word error rates and CPU are measured.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/media/recording/manifest.ts';
import { PocketsphinxRecogniser } from '../../src/transcripts/pocketsphinx.ts';
import { registerUser, TestClient, waitFor } from '../helpers/matrix.ts';
import { recorderSuite } from '../helpers/recorder-suite.ts';
import { segmentDir } from '../helpers/recordings.ts';
import { createCallRoom, inviteBot, join as joinRoom } from '../helpers/rooms.ts';
import { childrenCpuMs, speak48k, speakToWav, speechSpan } from '../helpers/spoken-sentences.ts';
import { wer, wordErrors, words } from '../helpers/wer.ts';
import { startRtcPeer } from '../peers/rtc-peer.ts';
import { readStackInfo } from '../stack/info.ts';

const stack = readStackInfo();
const botUserId = `@${stack.appservice.botLocalpart}:${stack.synapse.serverName}`;
const suite = recorderSuite(stack);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

const SENTENCES = {
  alice: 'let us start with the first item on the agenda. we will review the budget for next year on monday morning.',
  bob: 'the project is ready and we can ship it next week. can you hear me now? i think the connection is working.',
};

/** Sentences of meetings, for the accuracy of the recogniser on clean synthesised speech. */
const CORPUS = [
  'let us start with the first item on the agenda',
  'we will review the budget for next year on monday morning',
  'please record this meeting and send the notes to everyone',
  'the quick brown fox jumps over the lazy dog',
  'can you hear me now i think the connection is working',
  'the project is ready and we can ship it next week',
  'please send the notes to everyone after the meeting',
  'i will call you tomorrow about the new contract',
];

interface VttCue {
  startMs: number;
  endMs: number;
  voice: string;
  text: string;
}

function parseVtt(vtt: string): VttCue[] {
  const ms = (t: string) => {
    const [h, m, s] = t.split(':');
    return (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000;
  };
  return [...vtt.matchAll(/(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n<v ([^>]+)>(.*)<\/v>/g)].map((m) => ({ startMs: ms(m[1]!), endMs: ms(m[2]!), voice: m[3]!, text: m[4]! }));
}

describe('transcripts', () => {
  it('pocketsphinx on clean synthesised speech: word error rate and CPU per audio minute', async () => {
    const recogniser = new PocketsphinxRecogniser({ ffmpegPath: stack.ffmpegPath, modelDir: MODEL_DIR });
    let errors = 0;
    let total = 0;
    let audioMs = 0;
    const cpuBefore = childrenCpuMs();
    for (const sentence of CORPUS) {
      const wav = speakToWav(sentence);
      audioMs += speechSpan(speak48k(sentence)).endMs;
      const heard = (await recogniser.transcribe(wav)).map((u) => u.text).join(' ');
      const e = wordErrors(sentence, heard);
      errors += e.errors;
      total += e.words;
      console.log(`[measure] clean: "${sentence}" -> "${heard}" (${e.errors}/${e.words} word errors)`);
    }
    const cpuMs = childrenCpuMs() - cpuBefore;
    console.log(`[measure] clean speech: WER ${((100 * errors) / total).toFixed(1)} % over ${total} words; CPU ${cpuMs} ms for ${(audioMs / 1000).toFixed(1)} s of speech in ${CORPUS.length} files (each pays the model load)`);
    // Measured 45 % on this corpus; a broken pipeline (wrong rate, no model) gives ~100 %.
    expect(errors / total).toBeLessThan(0.5);
  });

  it('two speakers: each sentence comes back under its speaker at the time it was spoken', async () => {
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(async (n) => new TestClient(await registerUser(stack, n))));
    const roomId = await createCallRoom(alice!, { encrypted: true, invite: [bob!.user.userId] });
    await joinRoom(bob!, roomId);
    await inviteBot(alice!, roomId, botUserId);
    const clips = { alice: speak48k(SENTENCES.alice, 'en-us+klatt', stack.ffmpegPath), bob: speak48k(SENTENCES.bob, 'en-us+klatt2', stack.ffmpegPath) };
    const alicePeer = await startRtcPeer({ stack, roomId, user: alice!.user, toneHz: 440, e2ee: 'keys', silent: true, clip: clips.alice });
    suite.peers.push(alicePeer);
    const bobPeer = await startRtcPeer({ stack, roomId, user: bob!.user, toneHz: 660, e2ee: 'keys', silent: true, clip: clips.bob });
    suite.peers.push(bobPeer);

    await alice!.sendText(roomId, '!record transcript');
    await alice!.waitForMessage(roomId, botUserId, /^Recording started/, 'the start notice');
    await sleep(1_500);
    const aliceOn = alicePeer.setTone(true);
    await sleep(speechSpan(clips.alice).endMs + 1_500);
    const bobOn = bobPeer.setTone(true);
    await sleep(speechSpan(clips.bob).endMs + 1_500);
    await alice!.sendText(roomId, '!stop');
    await alice!.waitForMessage(roomId, botUserId, /^Recording ended/, 'the end summary', 60_000);
    const notice = await alice!.waitForMessage(roomId, botUserId, /^Transcript:/, 'the transcript notice', 120_000);
    console.log(`[measure] notice: ${String(notice.content.body)}`);

    const segment = segmentDir(suite.outputDir, roomId);
    const manifest = JSON.parse(readFileSync(join(segment, 'manifest.json'), 'utf8')) as Manifest;
    const start = Date.parse(manifest.segments[0]!.startedAt);
    expect(manifest.transcript?.recogniser).toBe('pocketsphinx (en-us)');
    expect(manifest.files.filter((f) => f.kind === 'captions' || f.kind === 'transcript').map((f) => f.name).sort()).toEqual(['transcript.txt', 'transcript.vtt']);
    const nameOf = (userId: string) => {
      const speaker = manifest.transcript!.speakers.find((s) => s.userId === userId)!;
      return speaker.displayName ?? userId;
    };

    const cues = parseVtt(readFileSync(join(segment, 'transcript.vtt'), 'utf8'));
    const text = readFileSync(join(segment, 'transcript.txt'), 'utf8');
    console.log(`[measure] captions:\n${readFileSync(join(segment, 'transcript.vtt'), 'utf8')}\n[measure] text:\n${text}`);
    for (const [who, user, on] of [['alice', alice!.user, aliceOn], ['bob', bob!.user, bobOn]] as const) {
      const own = cues.filter((c) => c.voice === nameOf(user.userId));
      const heard = own.map((c) => c.text).join(' ');
      const spoken = { startMs: on - start + speechSpan(clips[who]).startMs, endMs: on - start + speechSpan(clips[who]).endMs };
      const rate = wer(SENTENCES[who], heard);
      console.log(`[measure] ${who}: spoken ${spoken.startMs}-${spoken.endMs} ms, captions ${own[0]?.startMs}-${own.at(-1)?.endMs} ms: "${heard}" (WER ${(100 * rate).toFixed(0)} %)`);
      // The words come back under this speaker, and only in the span they spoke. pocketsphinx gets
      // 30-80 % of the words of one sentence wrong, varying with small changes in the audio, so the
      // bound is loose; a broken pipeline or a wrong speaker gives 100 %.
      const other = who === 'alice' ? 'bob' : 'alice';
      const distinctive = (of: 'alice' | 'bob') => words(SENTENCES[of]).filter((w) => w.length > 3 && !words(SENTENCES[of === 'alice' ? 'bob' : 'alice']).includes(w));
      const found = distinctive(who).filter((w) => words(heard).includes(w));
      console.log(`[measure] ${who}: ${found.length} of ${distinctive(who).length} distinctive words found (${found.join(' ')})`);
      expect(rate, `${who}'s word error rate`).toBeLessThan(0.8);
      expect(found.length, `${who}'s distinctive words found`).toBeGreaterThanOrEqual(3);
      expect(Math.abs(own[0]!.startMs - spoken.startMs), `${who}'s first caption starts where they began`).toBeLessThan(500);
      expect(Math.abs(own.at(-1)!.endMs - spoken.endMs), `${who}'s last caption ends where they stopped`).toBeLessThan(800);
      // Nothing of the other speaker's sentences is attributed to this one.
      expect(words(heard).filter((w) => distinctive(other).includes(w)), `${other}'s words under ${who}`).toEqual([]);
      expect(text).toContain(`] ${nameOf(user.userId)}: `);
    }

    // Both files reached the room: the bot's call user posted them (encrypted) after the recording.
    const room = alicePeer.client.getRoom(roomId)!;
    const posted = await waitFor(
      async () => {
        const names = room.getLiveTimeline().getEvents().filter((e) => e.getSender()?.startsWith(`@${stack.appservice.botLocalpart}-call:`)).map((e) => e.getContent().filename as string | undefined);
        return names.includes('transcript.vtt') && names.includes('transcript.txt') ? names : undefined;
      },
      'the captions and the text in the room',
      30_000,
      200,
    );
    expect(posted).toContain('transcript.vtt');

    // CPU of the recognition, per minute of each speaker's stem, from the recorder's own log.
    for (const line of suite.bot.logs.filter((l) => l.includes('"speaker transcribed"'))) {
      const entry = JSON.parse(line) as { stem: string; audioMs: number; cpuMs: number; wallMs: number; words: number };
      console.log(`[measure] ${entry.stem}: ${entry.words} words, ${entry.cpuMs} ms CPU (${((entry.cpuMs / entry.audioMs) * 60).toFixed(1)} s per speaker-minute), ${entry.wallMs} ms wall, for ${entry.audioMs} ms of stem`);
    }
  });
});
