// One LiveKit connection (one SFU) with @livekit/rtc-node: subscribes to every track and hands
// each remote audio track to the caller as a stream of PCM frames. Knows nothing of Matrix:
// participants are LiveKit identities.
import {
  AudioFrame, AudioStream, DisconnectReason, Room, RoomEvent, TrackKind, TrackSource, VideoBufferType, VideoStream, type VideoFrameEvent,
  type E2EEOptions, type Participant, type RemoteParticipant, type RemoteTrack, type RemoteTrackPublication,
} from '@livekit/rtc-node';
import { RecorderError } from '../../errors.ts';
import { watchE2eeStates, type E2eeState } from './participant-keys.ts';
import { requestVideoSize, tileSize, type Size } from './video-layer.ts';
import type { Logger } from '../../observability/logger.ts';
import type { I420 } from '../video/i420.ts';

/** Cryptor states in which the frames handed to the decoder were really decrypted. */
const DECRYPTED = new Set<E2eeState>(['ok', 'key-ratcheted']);
/** Longer than the receive jitter buffer holds (undecrypted packets decode to ~150 ms of noise). */
const E2EE_SETTLE_MS = 300;
/** How long LiveKit has to send our new name back before we say it did not take. */
const NAME_CONFIRM_MS = 5_000;

export interface AudioTrackHandler {
  (track: { identity: string; trackSid: string; frames: AsyncIterable<AudioFrame> }): void;
}

export interface VideoTrackHandler {
  /** `source`: a camera, or a shared screen (a tile of its own in the picture). */
  (track: { identity: string; trackSid: string; source: 'camera' | 'screen'; frames: AsyncIterable<I420> }): void;
}

export interface SfuConnectionOptions {
  url: string;
  jwt: string;
  log: Logger;
  /** LiveKit E2EE options, when the call's media is encrypted. */
  encryption?: E2EEOptions;
  onAudioTrack: AudioTrackHandler;
  /**
   * The name other participants' LiveKit clients show for us (consent: it says we record). Give it
   * only when the JWT grants canUpdateOwnMetadata: without it LiveKit ignores the change.
   */
  participantName?: string;
  /** Video tracks are decoded only when this is given (video recordings). */
  onVideoTrack?: VideoTrackHandler;
  /** The recorded grid's size: each camera is asked for the layer its tile needs (video-layer.ts), not the largest. */
  videoCanvas?: Size;
  onParticipantLeft?(identity: string): void;
  onEncryptionStatus?(identity: string, encrypted: boolean): void;
  /** Per-participant frame decryption state (E2EE rooms only). */
  onE2eeState?(identity: string, state: E2eeState): void;
  /**
   * Frames of an unmuted track arrive and are not decrypted (E2EE rooms only; told again after
   * each recovery). libwebrtc's state alone misses a key that does not fit (DecryptionReports).
   */
  onUndecryptedMedia?(identity: string): void;
  onDisconnected?(reason: string): void;
  /**
   * The SDK lost the signal connection and is connecting again by itself (`reconnected`: it is
   * back, tracks re-subscribed). A server restart takes this path; `onDisconnected` follows only
   * when the SDK gives up.
   */
  onReconnecting?(): void;
  onReconnected?(): void;
  /**
   * Whether a participant's tracks may be taken (a call member expected on this SFU). Tracks of
   * others are held, not decoded, until `recheckHeld()` finds them admitted or they go away: an
   * SFU (or anyone with a token for its room) can present any identity.
   */
  admits?(identity: string): boolean;
}

export const AUDIO_SAMPLE_RATE = 48_000;
/** Received audio comes in frames of this length. */
export const AUDIO_FRAME_MS = 20;

export class SfuConnection {
  readonly room = new Room();
  readonly #opts: SfuConnectionOptions;
  readonly #log: Logger;
  readonly #readers = new Set<ReadableStreamDefaultReader<unknown>>();
  readonly #e2eeStates = new Map<string, E2eeState>();
  /** Tracks of participants not (yet) admitted, by track sid. */
  readonly #held = new Map<string, { track: RemoteTrack; publication: RemoteTrackPublication; participant: RemoteParticipant }>();
  #closing: Promise<void> | undefined;
  /** Cameras handed on, by track sid, and the participants whose tracks were handed on (the grid's tiles, as far as this SFU knows). */
  readonly #cameras = new Map<string, RemoteTrackPublication>();
  readonly #handedOn = new Set<string>();
  #unwatchE2ee: () => void = () => undefined;

  constructor(opts: SfuConnectionOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'sfu', sfu: opts.url });
    this.room
      .on(RoomEvent.TrackSubscribed, (track, publication, participant) => this.#onSubscribed(track, publication, participant))
      .on(RoomEvent.TrackUnsubscribed, (_track, publication) => {
        if (publication.sid) this.#held.delete(publication.sid);
        if (publication.sid) this.#cameras.delete(publication.sid);
      })
      .on(RoomEvent.TrackSubscriptionFailed, (trackSid, participant, reason) =>
        this.#log.warn({ trackSid, identity: participant.identity, reason }, 'track subscription failed'),
      )
      .on(RoomEvent.ParticipantConnected, (p) => this.#log.info({ identity: p.identity }, 'participant connected'))
      .on(RoomEvent.ParticipantDisconnected, (p) => {
        this.#log.info({ identity: p.identity }, 'participant disconnected');
        for (const [sid, held] of this.#held) if (held.participant.identity === p.identity) this.#held.delete(sid);
        if (this.#handedOn.delete(p.identity)) this.#sizeCameras();
        opts.onParticipantLeft?.(p.identity);
      })
      .on(RoomEvent.ParticipantEncryptionStatusChanged, (encrypted, p) => {
        this.#log.info({ identity: p.identity, encrypted }, 'participant encryption status');
        opts.onEncryptionStatus?.(p.identity, encrypted);
      })
      .on(RoomEvent.Reconnecting, () => {
        this.#log.warn('the SFU connection is interrupted; the SDK is connecting again');
        opts.onReconnecting?.();
      })
      .on(RoomEvent.Reconnected, () => {
        this.#log.info('the SFU connection is back');
        opts.onReconnected?.();
      })
      .on(RoomEvent.Disconnected, (reason) => {
        this.#log.warn({ reason }, 'disconnected from the SFU');
        // By name (DUPLICATE_IDENTITY, SERVER_SHUTDOWN…): it ends up in logs and in the manifest's gaps.
        opts.onDisconnected?.(DisconnectReason[reason] ?? String(reason));
      });
  }

  async connect(): Promise<void> {
    const e2ee = this.#opts.encryption ? watchE2eeStates() : undefined;
    if (e2ee) this.#unwatchE2ee = e2ee.stop;
    try {
      await this.room.connect(this.#opts.url, this.#opts.jwt, {
        autoSubscribe: true,
        dynacast: false,
        ...(this.#opts.encryption ? { encryption: this.#opts.encryption } : {}),
      });
    } catch (err) {
      e2ee?.stop();
      throw new RecorderError(`could not connect to LiveKit at ${this.#opts.url}: ${(err as Error).message}`, 'MRR_LIVEKIT_CONNECT', {
        cause: err,
        // No address in the room (the operator's network); the log has it.
        userMessage: "I could not connect to the call's LiveKit server.",
      });
    }
    this.#log.info({ room: this.room.name, identity: this.room.localParticipant?.identity }, 'connected to the SFU');
    // Not awaited: media keys and E2EE states must not wait for the name's confirmation.
    if (this.#opts.participantName) void this.#setParticipantName(this.#opts.participantName);
    e2ee?.bind(this.room, (identity, state) => {
      this.#log.info({ identity, e2ee: state }, 'participant E2EE state');
      this.#e2eeStates.set(identity, state);
      this.#opts.onE2eeState?.(identity, state);
    });
  }

  /** Sets our name and confirms that LiveKit took it: rtc-node's updateName resolves even when LiveKit refuses. */
  async #setParticipantName(name: string): Promise<void> {
    const local = this.room.localParticipant!;
    let stopWaiting: () => void = () => undefined;
    const confirmed = new Promise<boolean>((resolve) => {
      const onName = (newName: string, participant: Participant) => {
        if (participant.identity === local.identity && newName === name) resolve(true);
      };
      this.room.on(RoomEvent.ParticipantNameChanged, onName);
      const timer = setTimeout(() => resolve(false), NAME_CONFIRM_MS).unref();
      stopWaiting = () => {
        clearTimeout(timer);
        this.room.off(RoomEvent.ParticipantNameChanged, onName);
      };
    });
    try {
      await local.updateName(name);
      const ok = await confirmed;
      if (this.#closing) return;
      if (ok) this.#log.info({ name }, 'LiveKit participant name set');
      else this.#log.warn({ name, waitedMs: NAME_CONFIRM_MS }, 'LiveKit did not confirm our participant name; other LiveKit clients may not show that we record');
    } catch (err) {
      if (!this.#closing) this.#log.warn({ err, name }, 'could not set our LiveKit participant name');
    } finally {
      stopWaiting();
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unwatchE2ee();
      this.#held.clear();
      // Ends every frame iterator; the consumers then finish their outputs.
      for (const reader of this.#readers) {
        await reader.cancel().catch((err: unknown) => this.#log.debug({ err }, 'audio stream already closed'));
      }
      await this.room.disconnect();
    })();
    return this.#closing;
  }

  #onSubscribed(track: RemoteTrack, publication: RemoteTrackPublication, participant: RemoteParticipant): void {
    // Seen after a LiveKit restart: the SDK resumed a room we had closed mid-reconnect and subscribed
    // again; a reader opened now would never be cancelled, and the call's clock would wait on it.
    if (this.#closing) return;
    if (!this.#opts.admits || this.#opts.admits(participant.identity)) {
      this.#onTrack(track, publication, participant);
      return;
    }
    const sid = publication.sid ?? track.sid ?? `${participant.identity}/${this.#held.size}`;
    this.#held.set(sid, { track, publication, participant });
    this.#log.warn({ identity: participant.identity, trackSid: sid, kind: track.kind }, 'track held: its participant is no call member expected on this SFU');
  }

  /** Hands on held tracks whose participant is admitted now (a membership that arrived after its media). */
  recheckHeld(): void {
    if (!this.#opts.admits || this.#closing) return;
    for (const [sid, held] of this.#held) {
      if (!this.#opts.admits(held.participant.identity)) continue;
      this.#held.delete(sid);
      this.#log.info({ identity: held.participant.identity, trackSid: sid }, 'held track admitted: its participant is a call member now');
      this.#onTrack(held.track, held.publication, held.participant);
    }
  }

  /** Identities whose tracks are held (not admitted). */
  heldIdentities(): string[] {
    return [...new Set([...this.#held.values()].map((h) => h.participant.identity))];
  }

  #onTrack(track: RemoteTrack, publication: RemoteTrackPublication, participant: RemoteParticipant): void {
    const layers = track.kind === TrackKind.KIND_VIDEO ? { simulcast: publication.simulcasted, width: publication.width, height: publication.height } : {};
    this.#log.info({ identity: participant.identity, trackSid: publication.sid, kind: track.kind, source: publication.source, ...layers }, 'track subscribed');
    const identity = participant.identity;
    const trackSid = publication.sid ?? track.sid ?? 'unknown';
    const log = this.#log.child({ identity, trackSid });
    const newTile = !this.#handedOn.has(identity);
    this.#handedOn.add(identity);
    if (track.kind === TrackKind.KIND_VIDEO && this.#opts.onVideoTrack && publication.sid) this.#cameras.set(publication.sid, publication);
    if (newTile || track.kind === TrackKind.KIND_VIDEO) this.#sizeCameras();
    if (track.kind === TrackKind.KIND_AUDIO) {
      // 20 ms frames (the call clock's chunk) rather than rtc-node's 10 ms: half the FFI events, each a protobuf decode and a copy.
      const reader = new AudioStream(track, { sampleRate: AUDIO_SAMPLE_RATE, numChannels: 1, frameSizeMs: AUDIO_FRAME_MS }).getReader();
      // Decoded ciphertext is loud noise: record silence of the same length instead.
      const silence = (frame: AudioFrame) => new AudioFrame(new Int16Array(frame.data.length), frame.sampleRate, frame.channels, frame.samplesPerChannel);
      this.#opts.onAudioTrack({ identity, trackSid, frames: this.#decryptedFrames(reader, track, identity, log, silence) });
    } else if (track.kind === TrackKind.KIND_VIDEO && this.#opts.onVideoTrack) {
      const reader = new VideoStream(track).getReader();
      const i420 = async function* (events: AsyncIterable<VideoFrameEvent | undefined>) {
        let size = '';
        for await (const event of events) {
          if (!event) continue; // undecrypted: the tile keeps its last good picture
          const frame = event.frame.type === VideoBufferType.I420 ? event.frame : event.frame.convert(VideoBufferType.I420);
          // Which simulcast layer (or which size the sender's encoder chose) arrives, each time it changes.
          if (`${frame.width}x${frame.height}` !== size) {
            size = `${frame.width}x${frame.height}`;
            log.info({ width: frame.width, height: frame.height }, 'camera frame size');
          }
          yield { width: frame.width, height: frame.height, data: frame.data };
        }
      };
      const source = publication.source === TrackSource.SOURCE_SCREENSHARE ? 'screen' : 'camera';
      this.#opts.onVideoTrack({ identity, trackSid, source, frames: i420(this.#decryptedFrames(reader, track, identity, log, () => undefined)) });
    }
  }

  /**
   * Asks for every camera's layer at the size of a tile among the participants handed on here
   * (and for a screen share's at the whole picture's). A member on another SFU or without any
   * track is not counted: the tile taken is never smaller than a grid tile, and cameras in the strip
   * beside a screen share are smaller still, so a layer never comes smaller than its tile shows.
   */
  #sizeCameras(): void {
    const canvas = this.#opts.videoCanvas;
    if (!canvas || this.#cameras.size === 0) return;
    const size = tileSize(Math.max(1, this.#handedOn.size), canvas);
    for (const [sid, publication] of this.#cameras) {
      try {
        // A screen share takes the stage (most of the picture), and its text must stay legible.
        requestVideoSize(publication, publication.source === TrackSource.SOURCE_SCREENSHARE ? canvas : size);
      } catch (err) {
        // The SFU goes on sending the largest layer: dearer, not wrong.
        this.#log.warn({ err, trackSid: sid }, 'could not ask for a camera layer that fits its tile');
      }
    }
    this.#log.info({ cameras: this.#cameras.size, tiles: this.#handedOn.size, ...size }, 'camera layers asked for the tile size');
  }

  /**
   * A track's frames, with those that were not really decrypted replaced by `substitute`.
   * libwebrtc hands frames it has no key for to the decoder as they are (the FFI has no option
   * to drop them), and its state turns 'ok' when a packet decrypts while what was decoded from
   * the packets before still sits in the receive jitter buffer: that is waited out too.
   */
  #decryptedFrames<T, S>(reader: ReadableStreamDefaultReader<T>, track: RemoteTrack, identity: string, log: Logger, substitute: (frame: T) => S): AsyncIterable<T | S> {
    const readers = this.#readers;
    readers.add(reader);
    const encrypted = Boolean(this.#opts.encryption);
    const states = this.#e2eeStates;
    const onUndecrypted = this.#opts.onUndecryptedMedia;
    let decryptedSince: number | undefined;
    const decodable = () => {
      if (!encrypted) return true;
      if (!DECRYPTED.has(states.get(identity) ?? 'new')) decryptedSince = undefined;
      else decryptedSince ??= Date.now();
      return decryptedSince !== undefined && Date.now() - decryptedSince >= E2EE_SETTLE_MS;
    };
    return {
      async *[Symbol.asyncIterator]() {
        let muted = 0;
        let told = false;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            if (decodable()) {
              if (muted) log.info({ mutedFrames: muted }, 'frames decrypt now; recording this track again');
              muted = 0;
              told = false;
              yield value;
              continue;
            }
            if (muted++ === 0) log.warn('frames arrive that are not decrypted; leaving them out of the recording until they are');
            // A muted track's frames are silence that nobody sent: no failure to tell.
            if (!told && !track.muted) {
              told = true;
              onUndecrypted?.(identity);
            }
            yield substitute(value);
          }
        } finally {
          reader.releaseLock();
          readers.delete(reader);
        }
      },
    };
  }
}
