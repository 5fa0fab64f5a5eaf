// Installs the stack's components once, into caches keyed by version: Synapse from PyPI in a
// venv, LiveKit server and versitygw (the S3-compatible archive) built from their tagged modules
// with `go install`, Debian packages with apt
// (nginx comes from apt but runs only under the stack; in containers policy-rc.d keeps apt from starting it as a service).
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './info.ts';

export const SYNAPSE_VERSION = '1.163.2';
// v1.13.5 is the newest tag whose go.mod has no replace directives, which `go install pkg@version` refuses.
export const LIVEKIT_VERSION = 'v1.13.5';
/** versitygw (Apache-2.0): an S3 gateway whose `posix` backend serves a directory; the archive sink's real S3 server. */
export const VERSITYGW_VERSION = 'v1.8.0';

export const synapseVenv = join(CACHE_DIR, `synapse-${SYNAPSE_VERSION}`);
export const synapsePython = join(synapseVenv, 'bin', 'python');
export const livekitBinary = join(CACHE_DIR, `livekit-${LIVEKIT_VERSION}`, 'bin', 'server');
export const versitygwBinary = join(CACHE_DIR, `versitygw-${VERSITYGW_VERSION}`, 'bin', 'versitygw');

const DEBIAN_PACKAGES: Record<string, string> = {
  'redis-server': 'redis-server',
  ffmpeg: 'ffmpeg',
  ffprobe: 'ffmpeg',
  chromium: 'chromium',
  nginx: 'nginx',
  'srt-live-transmit': 'srt-tools',
  // The audio bridge's real SIP phone, and the speech the tests synthesise.
  baresip: 'baresip',
  // The SIP bridge tests' trunk: a registrar/proxy demanding digest authentication.
  kamailio: 'kamailio',
  'espeak-ng': 'espeak-ng',
};
/** Debian's RTMP module for nginx (the live-stream tests' RTMP ingest): a loadable module, not a binary. */
export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
/** Debian's English acoustic model for pocketsphinx (ffmpeg's `asr` filter): local transcripts, nothing downloaded at run time. */
export const POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const DEBIAN_FILES: Record<string, string> = {
  [NGINX_RTMP_MODULE]: 'libnginx-mod-rtmp',
  [POCKETSPHINX_MODEL_DIR]: 'pocketsphinx-en-us',
  // The typeface of names in the video picture (src/media/video/fonts.ts).
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf': 'fonts-dejavu-core',
};

const say = (line: string) => console.log(`[stack] ${line}`);

/** What the installers print (apt's and dpkg's progress, pip, go's downloads): out of the terminal, shown on failure. */
export const INSTALL_LOG = join(CACHE_DIR, 'install.log');

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; what: string }) {
  const started = Date.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  appendFileSync(INSTALL_LOG, `\n$ ${command} ${args.join(' ')}   (${new Date().toISOString()})\n`);
  const log = openSync(INSTALL_LOG, 'a');
  let result: ReturnType<typeof spawnSync>;
  try {
    result = spawnSync(command, args, { stdio: ['ignore', log, log], env: options.env ?? process.env });
  } finally {
    closeSync(log);
  }
  if (result.status !== 0) {
    const tail = readFileSync(INSTALL_LOG, 'utf8').split('\n').slice(-25).join('\n');
    const why = result.error ? result.error.message : `exited with ${result.status ?? result.signal}`;
    throw new Error(`${options.what} failed (${command} ${args.join(' ')} ${why}); last lines of ${INSTALL_LOG}:\n${tail}`);
  }
  say(`${options.what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export const whichBinary = (name: string) => {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
};

function installDebianPackages() {
  const missing = [
    ...new Set([
      ...Object.entries(DEBIAN_PACKAGES).filter(([bin]) => !whichBinary(bin)).map(([, pkg]) => pkg),
      ...Object.entries(DEBIAN_FILES).filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg),
    ]),
  ];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages ${missing.join(', ')}: install them with apt-get (needs root)`);
  say(`installing Debian packages: ${missing.join(', ')} (first use only; apt's output goes to ${INSTALL_LOG})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env, what: 'apt-get update' });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, what: `apt-get install ${missing.join(' ')}` });
}

function installSynapse() {
  const marker = join(synapseVenv, '.installed');
  if (existsSync(marker)) return;
  say(`installing matrix-synapse ${SYNAPSE_VERSION} from PyPI into ${synapseVenv} (first use only, about 30 s; output in ${INSTALL_LOG})`);
  rmSync(synapseVenv, { recursive: true, force: true });
  run('python3', ['-m', 'venv', synapseVenv], { what: 'python venv' });
  run(join(synapseVenv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `matrix-synapse==${SYNAPSE_VERSION}`], {
    what: `pip install matrix-synapse==${SYNAPSE_VERSION}`,
  });
  execFileSync('touch', [marker]);
}

function installLiveKit() {
  if (existsSync(livekitBinary)) return;
  if (!whichBinary('go')) throw new Error('Go is needed to build the LiveKit server (go install); install Go first');
  say(`building livekit-server ${LIVEKIT_VERSION} with go install (first use only, about 2 min; output in ${INSTALL_LOG})`);
  const gobin = join(CACHE_DIR, `livekit-${LIVEKIT_VERSION}`, 'bin');
  mkdirSync(gobin, { recursive: true });
  run('go', ['install', `github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}`], {
    env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    what: `go install livekit-server@${LIVEKIT_VERSION}`,
  });
}

function installVersitygw() {
  if (existsSync(versitygwBinary)) return;
  if (!whichBinary('go')) throw new Error('Go is needed to build versitygw (go install); install Go first');
  say(`building versitygw ${VERSITYGW_VERSION} with go install (first use only, about 1 min; output in ${INSTALL_LOG})`);
  const gobin = join(CACHE_DIR, `versitygw-${VERSITYGW_VERSION}`, 'bin');
  mkdirSync(gobin, { recursive: true });
  run('go', ['install', `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`], {
    env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    what: `go install versitygw@${VERSITYGW_VERSION}`,
  });
}

export function installAll() {
  installDebianPackages();
  installSynapse();
  installLiveKit();
  installVersitygw();
}
