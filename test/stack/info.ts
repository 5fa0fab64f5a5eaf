// What a running local stack looks like to tests, the demo and the stack script (stack.json).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CACHE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'matrixrtc-recorder');
export const STATE_DIR = join(CACHE_DIR, 'stack');
export const STACK_INFO_PATH = join(STATE_DIR, 'stack.json');

export interface SfuInfo {
  name: string;
  /** WebSocket URL the authorizer hands out. */
  livekitUrl: string;
  /** Base URL of the lk-jwt-service-compatible authorizer (what transports advertise). */
  authorizerUrl: string;
  apiKey: string;
  apiSecret: string;
}

/** The RTMP ingest (nginx + libnginx-mod-rtmp): publish and play at `${url}/<name>`. */
export interface RtmpInfo {
  /** rtmp://127.0.0.1:<port>/live; a stream is `${url}/${name}`. */
  url: string;
  /** Publishing is accepted for this name (or `${goodKey}-<suffix>`), refused with 403 for any other. */
  goodKey: string;
  port: number;
  /** nginx's own HTTP port that answers the publish check (and /healthz). */
  checkPort: number;
}

/** versitygw on loopback, serving a directory of the stack's state (posix backend) as S3. */
export interface S3Info {
  /** http://127.0.0.1:<port>, path-style. */
  endpoint: string;
  region: string;
  /** Generated per stack. */
  accessKeyId: string;
  secretAccessKey: string;
  /** Created at start-up; tests use key prefixes of their own in it. */
  bucket: string;
  /** The directory versitygw serves: `<root>/<bucket>/<key>`. */
  root: string;
}

export interface StackInfo {
  synapse: { url: string; serverName: string; registrationSharedSecret: string };
  appservice: { registrationFile: string; bindAddress: string; port: number; url: string; botLocalpart: string };
  /** The bot's crypto store, shared by every recorder the tests start so the bot keeps one device per stack. */
  botCrypto: { storeDir: string; storeKey: string; crossSigningKeysFile: string };
  /** sfus[0] is the homeserver's advertised transport; the others exist for multi-SFU calls. */
  sfus: SfuInfo[];
  redis: { url: string };
  rtmp: RtmpInfo;
  s3: S3Info;
  ffmpegPath: string;
  chromiumPath: string;
}

export function readStackInfo(): StackInfo {
  try {
    return JSON.parse(readFileSync(STACK_INFO_PATH, 'utf8')) as StackInfo;
  } catch (err) {
    throw new Error(`the local stack is not running (${STACK_INFO_PATH}: ${(err as Error).message}); start it with \`npm run stack -- up\``);
  }
}
