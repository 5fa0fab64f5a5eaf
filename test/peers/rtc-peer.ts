// A simulated Element Call peer in Node: the Matrix side from call-member.ts, and
// @livekit/rtc-node publishing a microphone track that carries a known sine tone in real time,
// encrypted per participant the way Element Call's key provider does.
import { AudioFrame, AudioSource, LocalAudioTrack, LocalVideoTrack, Room, TrackPublishOptions, TrackSource, VideoBufferType, VideoFrame, VideoSource } from '@livekit/rtc-node';
import { elementCallE2eeOptions, setParticipantKey, useSenderKeyIndex } from '../../src/media/livekit/participant-keys.ts';
import { type CallMember, type CallMemberOptions, joinCallAsMember, type OwnKey } from './call-member.ts';
import { TONE_FRAME, TONE_RATE, toneGenerator } from './tone.ts';

export interface RtcPeerOptions extends CallMemberOptions {
  toneHz: number;
  /** Start silent (digital zeros) until setTone(true); default: the tone plays from the start. */
  silent?: boolean;
  /** Instead of the tone: these samples (mono s16 at 48 kHz, e.g. synthesised speech) play once each time the sound is switched on, then silence. */
  clip?: Int16Array;
  /**
   * Also publish a camera track: a solid colour (limited-range Y, U, V) at this size and rate,
   * simulcast as rtc-node chooses: below 960 px on the long side two layers of this very size (a
   * subscriber asking for a small tile still gets it whole); from 960 px 320x180, 640x360 and this.
   */
  video?: { width: number; height: number; fps: number; yuv: [number, number, number] };
  /**
   * Audio handed to rtc-node per captureFrame call, in ms (default 10, as a microphone delivers).
   * Each call is an FFI request: the bench's peers use 40 to cost their host a quarter of the CPU.
   */
  frameMs?: 10 | 20 | 40;
  /** Also share a screen: a second video track (source SCREENSHARE), a solid colour like the camera's. */
  screen?: { width: number; height: number; fps: number; yuv: [number, number, number] };
}

/** The source's queue: captureFrame blocks while it is full, so a frame leaves this much later. */
const SOURCE_QUEUE_MS = 50;

export interface RtcPeer extends Pick<CallMember, 'client' | 'session' | 'sfu' | 'identity' | 'livekitRoom' | 'ownKeys' | 'onMemberKey'> {
  user: CallMemberOptions['user'];
  /** Stops the tone, leaves LiveKit and the MatrixRTC session (membership removed). */
  stop(): Promise<void>;
  /** Ends the process's part abruptly: no leave event, like a crashed client. */
  abandon(): Promise<void>;
  /**
   * Leaves LiveKit and connects again with the same identity, key and Matrix membership, tracks
   * published anew, as Element Call does in a full reconnect after an SFU restart; the credentials
   * are asked for again, since only the authorizer creates the room on the restarted server.
   */
  reconnectMedia(): Promise<void>;
  /** Switches the tone on or off; returns the wall-clock time (ms) the change leaves the peer. */
  setTone(on: boolean): number;
}

/** One LiveKit connection of the peer: its tracks published, their frames flowing. */
interface PeerMedia {
  lk: Room;
  trackSids: string[];
  close(): Promise<void>;
}

/** Connects to the member's SFU and publishes the microphone (and any camera, screen) fed by `nextAudio`. */
async function connectMedia(credentials: CallMember['livekit'], opts: RtcPeerOptions, frameSamples: number, nextAudio: () => Int16Array): Promise<PeerMedia> {
  const lk = new Room();
  await lk.connect(credentials.url, credentials.jwt, { autoSubscribe: false, dynacast: false, ...(opts.e2ee ? { encryption: elementCallE2eeOptions() } : {}) });
  const source = new AudioSource(TONE_RATE, 1, SOURCE_QUEUE_MS);
  const track = LocalAudioTrack.createAudioTrack('microphone', source);
  const { sid: trackSid } = await lk.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
  if (!trackSid) throw new Error('the published track has no sid');
  const trackSids = [trackSid];
  const cameras: Array<ReturnType<typeof setInterval>> = [];
  const publishSolid = async (name: string, trackSource: TrackSource, { width, height, fps, yuv }: NonNullable<RtcPeerOptions['video']>) => {
    const videoSource = new VideoSource(width, height);
    const data = new Uint8Array(width * height * 1.5);
    data.fill(yuv[0], 0, width * height);
    data.fill(yuv[1], width * height, width * height * 1.25);
    data.fill(yuv[2], width * height * 1.25);
    const frame = new VideoFrame(data, width, height, VideoBufferType.I420);
    const published = await lk.localParticipant!.publishTrack(LocalVideoTrack.createVideoTrack(name, videoSource), new TrackPublishOptions({ source: trackSource }));
    if (published.sid) trackSids.push(published.sid);
    cameras.push(setInterval(() => videoSource.captureFrame(frame), 1000 / fps));
  };
  if (opts.video) await publishSolid('camera', TrackSource.SOURCE_CAMERA, opts.video);
  if (opts.screen) await publishSolid('screen', TrackSource.SOURCE_SCREENSHARE, opts.screen);

  // Real-time audio: captureFrame applies backpressure through the small queue.
  let running = true;
  const pump = (async () => {
    while (running) await source.captureFrame(new AudioFrame(nextAudio(), TONE_RATE, 1, frameSamples));
  })().catch(() => undefined);
  return {
    lk,
    trackSids,
    async close() {
      running = false;
      for (const camera of cameras) clearInterval(camera);
      await pump;
      await lk.disconnect();
      await source.close();
    },
  };
}

/** The sender's cryptor exists once the track is published: set the own key and point the sender at its index, as Element Call does on every rotation. */
function useOwnKey(media: PeerMedia, identity: string, { index, key }: OwnKey): void {
  setParticipantKey(media.lk, identity, index, key);
  for (const sid of media.trackSids) useSenderKeyIndex(media.lk, identity, sid, index);
}

export async function startRtcPeer(opts: RtcPeerOptions): Promise<RtcPeer> {
  const member = await joinCallAsMember(opts);
  let toneOn = !opts.silent;
  const frameSamples = (TONE_FRAME * (opts.frameMs ?? 10)) / 10;
  const silence = new Int16Array(frameSamples);
  let clipAt = 0;
  const clip = opts.clip;
  const next = clip
    ? () => {
        const frame = clipAt < clip.length ? clip.slice(clipAt, clipAt + frameSamples) : silence;
        clipAt += frameSamples;
        return frame.length === frameSamples ? frame : Int16Array.from({ length: frameSamples }, (_, i) => frame[i] ?? 0);
      }
    : toneGenerator(opts.toneHz, undefined, frameSamples);
  const nextAudio = () => (toneOn ? next() : silence);

  let media = await connectMedia(member.livekit, opts, frameSamples, nextAudio);
  let ownKey: OwnKey | undefined;
  member.onOwnKey((key) => {
    ownKey = key;
    useOwnKey(media, member.identity, key);
  });
  return {
    user: opts.user,
    client: member.client,
    session: member.session,
    sfu: member.sfu,
    identity: member.identity,
    livekitRoom: member.livekitRoom,
    ownKeys: member.ownKeys,
    onMemberKey: member.onMemberKey,
    async stop() {
      await media.close();
      await member.leave();
    },
    async abandon() {
      await media.close();
      member.abandon();
    },
    async reconnectMedia() {
      await media.close();
      media = await connectMedia(await member.fetchLivekit(), opts, frameSamples, nextAudio);
      if (ownKey) useOwnKey(media, member.identity, ownKey);
    },
    setTone(on) {
      toneOn = on;
      if (on) clipAt = 0;
      return Date.now() + SOURCE_QUEUE_MS;
    },
  };
}

export { waitForMembership } from './call-member.ts';
