// The recogniser the config asks for; a missing endpoint or key is a config error naming the key.
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { OpenAiEndpointRecogniser } from './openai-endpoint.ts';
import { PocketsphinxRecogniser } from './pocketsphinx.ts';
import type { SpeechRecogniser } from './recogniser.ts';

export function recogniserFromConfig(config: Pick<Config, 'transcripts' | 'recording'>): SpeechRecogniser {
  const t = config.transcripts;
  const ffmpegPath = config.recording.ffmpegPath;
  if (t.backend === 'pocketsphinx') return new PocketsphinxRecogniser({ ffmpegPath, modelDir: t.modelDir });
  if (!t.endpointUrl) throw new ConfigError('transcripts.endpointUrl', 'needed when transcripts.backend is openai');
  if (!t.apiKey) throw new ConfigError('transcripts.apiKey', 'needed when transcripts.backend is openai');
  return new OpenAiEndpointRecogniser({
    url: t.endpointUrl,
    apiKey: t.apiKey,
    model: t.model,
    ...(t.language ? { language: t.language } : {}),
    timeoutMs: t.requestTimeoutMs,
    ffmpegPath,
  });
}
