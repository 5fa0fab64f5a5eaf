// One interface for speech recognition, whatever does it: the local pocketsphinx backend (ffmpeg's
// `asr` filter with Debian's English model, nothing downloaded at run time) or an organisation's
// OpenAI-compatible transcription endpoint. A recogniser turns one speaker's audio file into
// utterances on that file's time axis; who spoke is known from the stem, never guessed.

/** One word with its time in the file (ms). */
export interface RecognisedWord {
  word: string;
  startMs: number;
  endMs: number;
}

/** A stretch of speech between pauses, as the recogniser returned it. */
export interface Utterance {
  startMs: number;
  endMs: number;
  text: string;
  words: RecognisedWord[];
  /** True when the recogniser gave no word times and they were spread over the utterance by length. */
  interpolated: boolean;
}

export interface SpeechRecogniser {
  /** Names the backend in logs, the manifest and the transcript's header. */
  readonly name: string;
  /** Recognises the speech in one audio file (any format ffmpeg reads). */
  transcribe(path: string, signal?: AbortSignal): Promise<Utterance[]>;
}

/**
 * Word times for an utterance whose recogniser gave only its text and span: each word gets a
 * share of the span proportional to its length, which is close enough for captions of a few words.
 */
export function spreadWords(text: string, startMs: number, endMs: number): RecognisedWord[] {
  const words = text.split(/\s+/).filter(Boolean);
  const total = words.reduce((sum, w) => sum + w.length + 1, 0);
  let at = startMs;
  return words.map((word) => {
    const length = ((word.length + 1) / total) * (endMs - startMs);
    const span = { word, startMs: Math.round(at), endMs: Math.round(at + length) };
    at += length;
    return span;
  });
}
