// Runs inside headless Chromium next to livekit-client's UMD build (window.LivekitClient).
// The media half of an Element Call peer: a key provider built like Element Call's own
// (per-participant keys, ratchet window 10, key ring 256, raw 16-byte keys imported as HKDF
// material), a LiveKit room with the E2EE worker, and a microphone track carrying a WebAudio
// sine tone. The test drives it through window.peer.
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

  async start({ url, jwt, toneHz, e2ee, keyDerivation }) {
    this.keyProvider = new MatrixKeyProvider(keyDerivation);
    const options = { adaptiveStream: false, dynacast: false };
    if (e2ee) options.e2ee = { keyProvider: this.keyProvider, worker: new Worker('/livekit-client.e2ee.worker.mjs', { type: 'module' }) };
    const room = new LK.Room(options);
    this.room = room;
    // Console lines reach the test's page log.
    room.on(LK.RoomEvent.EncryptionError, (error) => console.warn(`encryption error: ${error?.message ?? error}`));
    room.on(LK.RoomEvent.Disconnected, (reason) => console.warn(`disconnected: ${reason}`));
    await room.connect(url, jwt, { autoSubscribe: false });
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

  async setKey(bytes, identity, index) {
    await this.keyProvider.setRawKey(bytes, identity, index);
  },

  async stop() {
    await this.room?.disconnect();
    await this.audio?.close();
  },
};
