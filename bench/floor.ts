// The floor a recording is measured against: ffmpeg alone doing the same media work from files,
// with the project's own encoder settings. Audio: decode N Opus tracks, mix them, encode the mix
// and N stems. Video: decode N VP8 cameras (and their Opus), compose the recorder's picture
// (layout.ts's 16:9 tiles on the page's background, each camera cropped to fill its tile and
// scaled with bilinear filtering), encode it with the composite's x264 and Opus settings, and the
// audio files as for audio. What it leaves out: decryption, the SFU transport (RTP, Opus/VP8
// packets arriving in real time), jitter buffering, the real-time clock, and the decorations
// (names, borders: the recorder draws them, the floor does not).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { opusFileArgs, PCM_48K_MONO } from '../src/media/ffmpeg/audio-args.ts';
import { compositeFileArgs, type VideoFormat } from '../src/media/ffmpeg/video-args.ts';
import { COLOURS } from '../src/media/video/tile-painter.ts';
import { aspectCover, layoutTiles, type Rect } from '../src/media/video/layout.ts';

export const FLOOR_LEAVES_OUT = 'decryption, the SFU transport (WebRTC, RTP depacketising), jitter buffering, pacing by a real-time clock, and the tiles\' decorations (names, borders)';

export interface FloorInput {
  kind: 'audio' | 'video';
  peers: number;
  seconds: number;
  /** The camera each peer sends (video only). */
  camera?: VideoFormat;
  /** The recorder's composite picture (video only). */
  grid?: VideoFormat;
  toneHz: (i: number) => number;
}

export interface FloorResult {
  cpuS: number;
  wallS: number;
  peakMiB: number;
}

/** The encoder part of a builder's arguments: from the first codec option to the output path. */
function encoderArgs(args: string[], first: string): string[] {
  const from = args.indexOf(first);
  const to = args.lastIndexOf('-y');
  if (from < 0 || to < from) throw new Error(`cannot find the encoder options (${first} … -y) in ${args.join(' ')}`);
  return args.slice(from, to);
}

const ffmpeg = (args: string[]) => execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });

/** The input files, made once per kind, count, length and size (synthesised tones; solid-colour cameras, as the bench's peers send). */
function prepareInputs(input: FloorInput): string[] {
  const { kind, peers, seconds, camera } = input;
  const dir = join(tmpdir(), 'mrr-bench-floor', `${kind}-${peers}-${seconds}s${camera ? `-${camera.width}x${camera.height}@${camera.fps}` : ''}`);
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: peers }, (_, i) => {
    const tone = ['-f', 'lavfi', '-i', `sine=frequency=${input.toneHz(i)}:sample_rate=48000:duration=${seconds}`];
    if (kind === 'audio') {
      const path = join(dir, `peer${i}.ogg`);
      if (!existsSync(path)) ffmpeg([...tone, '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', '-y', path]);
      return path;
    }
    if (!camera) throw new Error('a video floor needs the camera format');
    const path = join(dir, `peer${i}.webm`);
    const colour = `0x${((0x305080 + i * 0x201008) & 0xffffff).toString(16).padStart(6, '0')}`;
    if (!existsSync(path)) {
      ffmpeg([
        '-f', 'lavfi', '-i', `color=c=${colour}:s=${camera.width}x${camera.height}:r=${camera.fps}:d=${seconds}`, ...tone,
        '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', '-y', path,
      ]);
    }
    return path;
  });
}

/** Even, for 4:2:0 chroma. */
const even = (n: number) => 2 * Math.round(n / 2);

/**
 * Where each of `count` cameras goes in the picture and the part of it shown: layout.ts's tiles,
 * their edges rounded to even pixels, and the centred part of the camera that fills the tile with
 * its aspect kept (aspectCover), as the recorder shows cameras.
 */
export function cameraTiles(count: number, camera: VideoFormat, canvas: VideoFormat): Array<{ tile: Rect; crop: Rect }> {
  const placed = layoutTiles(Array.from({ length: count }, (_, i) => ({ id: String(i), screen: false })), canvas);
  return Array.from({ length: count }, (_, i) => {
    const r = placed.get(String(i))!;
    const [x, y] = [even(r.x), even(r.y)];
    const tile = { x, y, width: even(r.x + r.width) - x, height: even(r.y + r.height) - y };
    const c = aspectCover(camera, tile);
    const [width, height] = [Math.min(camera.width, even(c.width)), Math.min(camera.height, even(c.height))];
    const crop = { x: Math.min(even(c.x), camera.width - width), y: Math.min(even(c.y), camera.height - height), width, height };
    return { tile, crop };
  });
}

/** The ffmpeg arguments of the floor: inputs, one filter graph, the mix, the stems (and the composite). */
export function floorArgs(input: FloorInput, inputs: string[], outDir: string): string[] {
  const n = inputs.length;
  const opus = encoderArgs(opusFileArgs(PCM_48K_MONO, 'x.ogg'), '-c:a');
  const graph: string[] = [];
  for (let i = 0; i < n; i++) graph.push(`[${i}:a]aformat=sample_rates=48000:channel_layouts=mono,asplit=2[m${i}][s${i}]`);
  const mixes = input.kind === 'video' ? 2 : 1;
  const mixInputs = Array.from({ length: n }, (_, i) => `[m${i}]`).join('');
  graph.push(`${mixInputs}${n === 1 ? 'anull' : `amix=inputs=${n}:normalize=0:duration=longest`},asplit=${mixes}${mixes === 2 ? '[mix][mixv]' : '[mix]'}`);
  const outputs = ['-map', '[mix]', ...opus, join(outDir, 'mixed.ogg')];
  for (let i = 0; i < n; i++) outputs.push('-map', `[s${i}]`, ...opus, join(outDir, `stem${i}.ogg`));
  if (input.kind === 'video') {
    const grid = input.grid!;
    const camera = input.camera!;
    graph.push(`color=c=0x${COLOURS.background.slice(1)}:s=${grid.width}x${grid.height}:r=${grid.fps}:d=${input.seconds}[base0]`);
    cameraTiles(n, camera, grid).forEach(({ tile, crop }, i) => {
      graph.push(`[${i}:v]crop=w=${crop.width}:h=${crop.height}:x=${crop.x}:y=${crop.y},scale=w=${tile.width}:h=${tile.height}:flags=bilinear[v${i}]`);
      graph.push(`[base${i}][v${i}]overlay=x=${tile.x}:y=${tile.y}:eof_action=pass:format=yuv420[base${i + 1}]`);
    });
    const composite = encoderArgs(compositeFileArgs(grid, PCM_48K_MONO, 'x.mkv'), '-c:v');
    outputs.push('-map', `[base${n}]`, '-map', '[mixv]', ...composite, join(outDir, 'composite.mkv'));
  }
  return [...inputs.flatMap((path) => ['-i', path]), '-filter_complex', graph.join(';'), ...outputs];
}

/** Runs the floor once (inputs prepared first, not counted): its CPU seconds, wall time and peak resident memory. */
export async function runFloor(input: FloorInput): Promise<FloorResult> {
  const inputs = prepareInputs(input);
  const outDir = join(tmpdir(), 'mrr-bench-floor', `out-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  const timeFile = join(outDir, 'time.txt');
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...floorArgs(input, inputs, outDir)];
  // GNU time reports the child's CPU and maximum resident set when it exits.
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, 'ffmpeg', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the floor's ffmpeg exited with ${code}: ${stderr.slice(-2000)}`);
  const [wall, user, sys, maxKiB] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  rmSync(outDir, { recursive: true, force: true });
  return { cpuS: user! + sys!, wallS: wall!, peakMiB: maxKiB! / 1024 };
}

// Alone (no stack, no recorder): `bash scripts/node.sh bench/floor.ts --peers 1,4,8,9,16 --kinds video`,
// the floor's CPU for each N, to compare floors without recording anything.
if (import.meta.main) {
  const { values } = parseArgs({ options: { peers: { type: 'string', default: '1,4,8,16' }, kinds: { type: 'string', default: 'audio,video' }, seconds: { type: 'string', default: '20' } } });
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 600)) throw new Error(`--seconds takes 1 to 600, not "${values.seconds}"`);
  for (const kind of values.kinds.split(',')) {
    if (kind !== 'audio' && kind !== 'video') throw new Error(`--kinds takes audio and/or video, not "${kind}"`);
    for (const n of values.peers.split(',').map(Number)) {
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`--peers takes counts from 1 to 16, not "${n}"`);
      const floor = await runFloor({ kind, peers: n, seconds, camera: { width: 640, height: 360, fps: 30 }, grid: { width: 1280, height: 720, fps: 30 }, toneHz: (i) => 300 + 100 * i });
      const perParticipantMinute = floor.cpuS / ((n * seconds) / 60);
      console.log(`${kind} N=${n}: ${floor.cpuS.toFixed(2)} CPU-s over ${seconds} s of media (${perParticipantMinute.toFixed(2)} CPU-s per participant-minute, ${(floor.cpuS / seconds).toFixed(2)} of a core), ${floor.wallS.toFixed(1)} s wall, peak ${floor.peakMiB.toFixed(0)} MiB`);
    }
  }
}
