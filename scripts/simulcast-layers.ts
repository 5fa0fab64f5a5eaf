// Which simulcast layers an rtc-node camera publishes, and which one a subscriber gets when it asks
// for a small tile (video-layer.ts's request). Runs its own LiveKit server (the stack's version,
// debug logging, other ports; the shared stack is not touched), one publisher sending a camera of
// --width x --height at 30 fps with simulcast, one subscriber that asks for --ask (default
// 320x180) after a few seconds. Prints the layers the SFU knows of the track and the size and rate
// of the frames arriving before and after the request.
//   bash scripts/node.sh scripts/simulcast-layers.ts [--width 640 --height 360] [--ask 320x180]
import { Room, RoomEvent, TrackKind, TrackPublishOptions, TrackSource, VideoBufferType, VideoFrame, VideoSource, VideoStream, LocalVideoTrack, dispose, type RemoteTrack, type RemoteTrackPublication } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { requestVideoSize } from '../src/media/livekit/video-layer.ts';
import { livekitBinary } from '../test/stack/install.ts';

const { values } = parseArgs({ options: { width: { type: 'string', default: '640' }, height: { type: 'string', default: '360' }, ask: { type: 'string', default: '320x180' }, port: { type: 'string', default: '37880' } } });
const [width, height] = [Number(values.width), Number(values.height)];
const [askWidth, askHeight] = values.ask.split('x').map(Number) as [number, number];
const port = Number(values.port);
const [key, secret] = ['probekey', 'probesecret-probesecret-probesecret'];

const dir = mkdtempSync(join(tmpdir(), 'mrr-simulcast-'));
const config = join(dir, 'livekit.yaml');
writeFileSync(config, [
  `port: ${port}`, 'bind_addresses: [127.0.0.1]', 'rtc:', `  tcp_port: ${port + 1}`, `  udp_port: ${port + 2}`, '  use_external_ip: false', '  node_ip: 127.0.0.1', '  enable_loopback_candidate: true',
  'keys:', `  ${key}: ${secret}`, 'room:', '  auto_create: true', 'logging:', '  level: debug', '',
].join('\n'));
const logPath = join(dir, 'livekit.log');
const log = openSync(logPath, 'w');
const server = spawn(livekitBinary, ['--config', config], { stdio: ['ignore', log, log] });
const say = (line: string) => console.log(`[${(performance.now() / 1000).toFixed(1)} s] ${line}`);
say(`LiveKit ${livekitBinary} on :${port}, its log in ${logPath}`);

const url = `ws://127.0.0.1:${port}`;
const token = async (identity: string) => {
  const at = new AccessToken(key, secret, { identity });
  at.addGrant({ room: 'probe', roomJoin: true, canPublish: true, canSubscribe: true });
  return at.toJwt();
};
const rooms = new RoomServiceClient(`http://127.0.0.1:${port}`, key, secret);

try {
  for (let i = 0; ; i++) {
    try {
      await rooms.listRooms();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await sleep(200);
    }
  }
  const publisher = new Room();
  await publisher.connect(url, await token('publisher'), { autoSubscribe: false, dynacast: false });
  const source = new VideoSource(width, height);
  await publisher.localParticipant!.publishTrack(LocalVideoTrack.createVideoTrack('camera', source), new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA, simulcast: true }));
  // A moving picture (a bar sweeping across), so that every layer carries real content.
  const data = new Uint8Array(width * height * 1.5);
  let tick = 0;
  const camera = setInterval(() => {
    data.fill(80, 0, width * height);
    const bar = (tick++ * 8) % width;
    for (let y = 0; y < height; y++) data.fill(200, y * width + bar, y * width + Math.min(width, bar + 16));
    data.fill(128, width * height);
    source.captureFrame(new VideoFrame(data, width, height, VideoBufferType.I420));
  }, 1000 / 30);

  const subscriber = new Room();
  let publication: RemoteTrackPublication | undefined;
  let frames = 0;
  const sizes = new Map<string, number>();
  subscriber.on(RoomEvent.TrackSubscribed, (track: RemoteTrack, pub: RemoteTrackPublication) => {
    if (track.kind !== TrackKind.KIND_VIDEO) return;
    publication = pub;
    void (async () => {
      const reader = new VideoStream(track).getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        const { frame } = next.value;
        frames++;
        const size = `${frame.width}x${frame.height}`;
        sizes.set(size, (sizes.get(size) ?? 0) + 1);
      }
    })();
  });
  await subscriber.connect(url, await token('subscriber'), { autoSubscribe: true, dynacast: false });

  const window = async (what: string, seconds: number) => {
    frames = 0;
    sizes.clear();
    await sleep(seconds * 1000);
    say(`${what}: ${(frames / seconds).toFixed(1)} frames/s, sizes ${[...sizes].map(([s, n]) => `${s} x${n}`).join(', ') || 'none'}`);
  };
  await sleep(3000);
  const [participant] = await rooms.listParticipants('probe').then((ps) => ps.filter((p) => p.identity === 'publisher'));
  for (const t of participant?.tracks ?? []) {
    say(`the SFU's track info: ${t.type === 1 ? 'video' : 'audio'} ${t.width}x${t.height} simulcast=${t.simulcast}, layers ${t.layers.map((l) => `${['LOW', 'MEDIUM', 'HIGH'][l.quality]} ${l.width}x${l.height} ${l.bitrate} bit/s`).join('; ')}`);
    for (const c of t.codecs) say(`  codec ${c.mimeType}: layers ${c.layers.map((l) => `${['LOW', 'MEDIUM', 'HIGH'][l.quality]} ${l.width}x${l.height} rid=${l.rid ?? ''}`).join('; ')}`);
  }
  await window('before asking', 4);
  if (!publication) throw new Error('the subscriber got no video track');
  requestVideoSize(publication, { width: askWidth, height: askHeight });
  say(`asked for ${askWidth}x${askHeight} (UpdateRemoteTrackPublicationDimension)`);
  await sleep(2000);
  await window(`after asking for ${askWidth}x${askHeight}`, 6);
  clearInterval(camera);
  await subscriber.disconnect();
  await publisher.disconnect();
} finally {
  server.kill('SIGTERM');
  await dispose();
}
process.exit(0);
