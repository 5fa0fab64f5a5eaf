// Per-speaker transcripts merged into one timeline (pure): WebVTT captions for the video, with
// each cue in its speaker's voice (`<v Name>`), and a readable text file, one line per utterance.
// Overlapping speech stays two cues, each with its own speaker: nothing is guessed.
import type { Utterance } from './recogniser.ts';

export interface SpeakerTranscript {
  /** As the room shows the speaker (or their Matrix ID when no name is known). */
  name: string;
  userId?: string;
  utterances: Utterance[];
}

export interface Cue {
  startMs: number;
  endMs: number;
  speaker: string;
  text: string;
}

/** A caption longer than this is split at a word boundary, so it fits on two lines of a video. */
const MAX_CUE_WORDS = 12;
const MAX_CUE_MS = 6_000;

/** Every speaker's utterances as caption cues, in time order. */
export function captionCues(transcripts: SpeakerTranscript[]): Cue[] {
  const cues: Cue[] = [];
  for (const { name, utterances } of transcripts) {
    for (const utterance of utterances) {
      let current: Cue | undefined;
      let count = 0;
      for (const word of utterance.words) {
        if (current && (count >= MAX_CUE_WORDS || word.endMs - current.startMs > MAX_CUE_MS)) {
          cues.push(current);
          current = undefined;
        }
        if (!current) {
          current = { startMs: word.startMs, endMs: word.endMs, speaker: name, text: word.word };
          count = 1;
        } else {
          current.text += ` ${word.word}`;
          current.endMs = word.endMs;
          count++;
        }
      }
      if (current) cues.push(current);
    }
  }
  return cues.sort((a, b) => a.startMs - b.startMs || a.speaker.localeCompare(b.speaker));
}

/** `HH:MM:SS.mmm`, as WebVTT wants it. */
export function vttTime(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
}

const escapeVtt = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderWebVtt(cues: Cue[]): string {
  const blocks = cues.map((cue, i) => {
    // A cue must last; a zero-length one (a one-letter word) is given a frame's worth.
    const endMs = Math.max(cue.endMs, cue.startMs + 40);
    return `${i + 1}\n${vttTime(cue.startMs)} --> ${vttTime(endMs)}\n<v ${escapeVtt(cue.speaker)}>${escapeVtt(cue.text)}</v>`;
  });
  return `WEBVTT\n\n${blocks.join('\n\n')}${blocks.length > 0 ? '\n' : ''}`;
}

export interface TranscriptHeading {
  title: string;
  /** When the recording started (ISO 8601); times in the text count from it. */
  startedAt: string;
  recogniser: string;
}

/** The readable transcript: a heading, who spoke, then `[HH:MM:SS] Name: words` per utterance in time order. */
export function renderText(heading: TranscriptHeading, transcripts: SpeakerTranscript[]): string {
  const lines = transcripts
    .flatMap(({ name, utterances }) => utterances.map((u) => ({ name, ...u })))
    .sort((a, b) => a.startMs - b.startMs || a.name.localeCompare(b.name))
    .map((u) => `[${vttTime(u.startMs).slice(0, 8)}] ${u.name}: ${u.text}`);
  const speakers = transcripts.map((t) => (t.userId && t.userId !== t.name ? `${t.name} (${t.userId})` : t.name));
  return [
    heading.title,
    `Recording started ${heading.startedAt}; times count from there. Speech recognised by ${heading.recogniser}, one speaker at a time from their own audio.`,
    `Speakers: ${speakers.join(', ') || 'nobody'}.`,
    '',
    ...(lines.length > 0 ? lines : ['(no speech recognised)']),
    '',
  ].join('\n');
}
