// Installs the stack's components once, into caches keyed by version: Synapse from PyPI in a
// venv, LiveKit server built from its tagged module with `go install`, Debian packages with apt.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './info.ts';

export const SYNAPSE_VERSION = '1.163.2';
// v1.13.5 is the newest tag whose go.mod has no replace directives, which `go install pkg@version` refuses.
export const LIVEKIT_VERSION = 'v1.13.5';

export const synapseVenv = join(CACHE_DIR, `synapse-${SYNAPSE_VERSION}`);
export const synapsePython = join(synapseVenv, 'bin', 'python');
export const livekitBinary = join(CACHE_DIR, `livekit-${LIVEKIT_VERSION}`, 'bin', 'server');

const DEBIAN_PACKAGES: Record<string, string> = { 'redis-server': 'redis-server', ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg', chromium: 'chromium' };

const say = (line: string) => console.log(`[stack] ${line}`);

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; what: string }) {
  const started = Date.now();
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: options.env ?? process.env });
  if (result.status !== 0) throw new Error(`${options.what} failed (${command} ${args.join(' ')} exited with ${result.status ?? result.signal})`);
  say(`${options.what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export const whichBinary = (name: string) => {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
};

function installDebianPackages() {
  const missing = [...new Set(Object.entries(DEBIAN_PACKAGES).filter(([bin]) => !whichBinary(bin)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages ${missing.join(', ')}: install them with apt-get (needs root)`);
  say(`installing Debian packages: ${missing.join(', ')} (first use only)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env, what: 'apt-get update' });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, what: `apt-get install ${missing.join(' ')}` });
}

function installSynapse() {
  const marker = join(synapseVenv, '.installed');
  if (existsSync(marker)) return;
  say(`installing matrix-synapse ${SYNAPSE_VERSION} from PyPI into ${synapseVenv} (first use only, about 30 s)`);
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
  say(`building livekit-server ${LIVEKIT_VERSION} with go install (first use only, about 2 min)`);
  const gobin = join(CACHE_DIR, `livekit-${LIVEKIT_VERSION}`, 'bin');
  mkdirSync(gobin, { recursive: true });
  run('go', ['install', `github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}`], {
    env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    what: `go install livekit-server@${LIVEKIT_VERSION}`,
  });
}

export function installAll() {
  installDebianPackages();
  installSynapse();
  installLiveKit();
}
