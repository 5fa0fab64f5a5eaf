// Runs inside headless Chromium next to livekit-client's UMD build (window.LivekitClient).
// The media half of an Element Call peer: a key provider built like Element Call's own
// (per-participant keys, ratchet window 10, key ring 256, raw 16-byte keys imported as HKDF
// material), a LiveKit room with the E2EE worker, and a microphone track carrying a WebAudio
// sine tone; when asked to listen, it also subscribes to the other participants' audio and keeps
// what it hears (decrypted by the same key provider) for the test. The test drives it through window.peer.
/* global LivekitClient */
const LK = LivekitClient;

class MatrixKeyProvider extends LK.BaseKeyProvider {
  /** @param {'hkdf' | 'pbkdf2'} derivation 'pbkdf2' simulates a client that derives keys from text, unlike Element Call. */
  constructor(derivation) {
    super({ ratchetWindowSize: 10, keyringSize: 256 });
    this.derivation = derivation;
  }

  /** The key as js-sdk hands it over (EncryptionKeyChanged): raw bytes, an identity and an index. */
  async setRawKey(bytes, identity, index) {
    const material =
      this.derivation === 'pbkdf2'
        ? await LK.createKeyMaterialFromString(btoa(String.fromCharCode(...bytes)))
        : await LK.createKeyMaterialFromBuffer(new Uint8Array(bytes).buffer);
    this.onSetEncryptionKey(material, identity, index);
  }
}

window.peer = {
  room: undefined,
  keyProvider: undefined,
  audio: undefined,
  /** identity -> { startedAt (ms since the epoch), chunks of Float32 samples at 48 kHz } */
  heardAudio: new Map(),

  async start({ url, jwt, toneHz, e2ee, keyDerivation, listen }) {
    this.keyProvider = new MatrixKeyProvider(keyDerivation);
    const options = { adaptiveStream: false, dynacast: false };
    if (e2ee) options.e2ee = { keyProvider: this.keyProvider, worker: new Worker('/livekit-client.e2ee.worker.mjs', { type: 'module' }) };
    const room = new LK.Room(options);
    this.room = room;
    // Console lines reach the test's page log.
    room.on(LK.RoomEvent.EncryptionError, (error) => console.warn(`encryption error: ${error?.message ?? error}`));
    room.on(LK.RoomEvent.Disconnected, (reason) => console.warn(`disconnected: ${reason}`));
    if (listen) {
      room.on(LK.RoomEvent.TrackPublished, (publication) => {
        if (publication.kind === LK.Track.Kind.Audio) publication.setSubscribed(true);
      });
      room.on(LK.RoomEvent.TrackSubscribed, (track, _publication, participant) => {
        if (track.kind === LK.Track.Kind.Audio) this.capture(track, participant.identity);
      });
    }
    await room.connect(url, jwt, { autoSubscribe: false });
    if (listen) {
      for (const participant of room.remoteParticipants.values()) {
        for (const publication of participant.trackPublications.values()) if (publication.kind === LK.Track.Kind.Audio) publication.setSubscribed(true);
      }
    }
    if (e2ee) await room.setE2EEEnabled(true);

    const context = new AudioContext({ sampleRate: 48000 });
    const oscillator = new OscillatorNode(context, { type: 'sine', frequency: toneHz });
    const gain = new GainNode(context, { gain: 0.3 });
    const destination = context.createMediaStreamDestination();
    oscillator.connect(gain).connect(destination);
    oscillator.start();
    await context.resume();
    this.audio = context;
    const [track] = destination.stream.getAudioTracks();
    await room.localParticipant.publishTrack(track, { source: LK.Track.Source.Microphone, name: 'microphone', dtx: false, red: false });
    return { identity: room.localParticipant.identity, audioState: context.state };
  },

  /** Keeps what a remote audio track plays, as the page's audio graph receives it after decryption. */
  capture(track, identity) {
    const context = this.audio ?? new AudioContext({ sampleRate: 48000 });
    // Chrome feeds a remote WebRTC stream into WebAudio only while a media element plays it.
    const element = track.attach();
    element.muted = true;
    document.body.appendChild(element);
    const source = context.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
    const processor = context.createScriptProcessor(4096, 1, 1);
    const heard = { startedAt: undefined, chunks: [] };
    this.heardAudio.set(identity, heard);
    processor.onaudioprocess = (event) => {
      const samples = event.inputBuffer.getChannelData(0);
      heard.startedAt ??= Date.now() - (samples.length / 48000) * 1000;
      heard.chunks.push(new Float32Array(samples));
    };
    source.connect(processor).connect(context.destination);
    console.log(`listening to ${identity}`);
  },

  /** What was heard from each identity: 16-bit samples at 48 kHz, base64, and when they began. */
  heard() {
    const result = [];
    for (const [identity, heard] of this.heardAudio) {
      const length = heard.chunks.reduce((n, c) => n + c.length, 0);
      const pcm = new Int16Array(length);
      let at = 0;
      for (const chunk of heard.chunks) for (const v of chunk) pcm[at++] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
      let binary = '';
      const bytes = new Uint8Array(pcm.buffer);
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      result.push({ identity, startedAt: heard.startedAt, pcm: btoa(binary) });
    }
    return result;
  },

  async setKey(bytes, identity, index) {
    await this.keyProvider.setRawKey(bytes, identity, index);
  },

  async stop() {
    await this.room?.disconnect();
    await this.audio?.close();
  },
};
