// The media half of a SIP leg: one RTP stream over UDP, 48 kHz mono 10 ms frames in and out.
//
// Sending: `send()` appends frames to a bounded queue; an internal clock takes one packet's worth
// (20 ms) every 20 ms, so the far end gets steady RTP whether or not the caller's frames arrive
// evenly. It starts taking frames once 30 ms are queued (and again after running dry), which adds
// 10-30 ms of latency and absorbs phase and jitter between the caller's clock and ours. An empty queue sends silence (RTP never pauses, so phones do not hit RTP timeouts); a full
// queue drops its oldest frames (counted), bounding the latency the queue can add.
// Receiving: packets from the negotiated address are decoded in arrival order; a late or duplicate
// packet is dropped and a sequence gap is filled with silence of the lost length (at most 200 ms),
// then cut into 10 ms frames.
import dgram from 'node:dgram';
import type { Logger } from '../../observability/logger.ts';
import { BRIDGE_RATE, type AudioDecoder, type AudioEncoder } from './codecs.ts';
import { dtmfDigit, dtmfEventCode, packRtp, packTelephoneEvent, parseRtp, parseTelephoneEvent } from './rtp.ts';
import type { MediaChoice } from './sdp.ts';

export const FRAME_SAMPLES = 480; // 10 ms at 48 kHz
const PACKET_MS = 20;
const PACKET_SAMPLES = (BRIDGE_RATE * PACKET_MS) / 1000;
/** Send queue bound: 10 frames (100 ms). */
export const SEND_QUEUE_FRAMES = 10;
const MAX_CONCEALED_MS = 200;
const DTMF_TONE_MS = 100;
const DTMF_GAP_MS = 60;
const DTMF_END_REPEATS = 3;

export interface RtpStreamStats {
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  packetsLate: number;
  /** Packets from an address other than the negotiated one (ignored). */
  packetsForeign: number;
  sendFramesDropped: number;
  /** Ticks where the queue ran dry while frames were flowing (silence went out instead). */
  sendUnderruns: number;
}

export interface RtpStreamOptions {
  socket: dgram.Socket;
  remote: { address: string; port: number };
  media: MediaChoice;
  log: Logger;
  onFrame: (frame: Int16Array) => void;
  onDtmf: (digit: string) => void;
}

export class RtpStream {
  readonly stats: RtpStreamStats = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, packetsLate: 0, packetsForeign: 0, sendFramesDropped: 0, sendUnderruns: 0 };
  private readonly opts: RtpStreamOptions;
  private readonly encoder: AudioEncoder;
  private readonly decoder: AudioDecoder;
  private readonly ssrc = (Math.random() * 0x1_0000_0000) >>> 0;
  private sequence = Math.floor(Math.random() * 0x10000);
  private timestamp = (Math.random() * 0x1_0000_0000) >>> 0;
  private readonly timestampStep: number;
  private readonly sendQueue: Int16Array[] = [];
  private timer: NodeJS.Timeout | undefined;
  private clockStart = 0;
  private ticks = 0;
  private firstPacket = true;
  private primed = false;
  private readonly dtmfQueue: { digit: string; done: () => void }[] = [];
  private dtmfState: { code: number; timestamp: number; elapsedMs: number; endsSent: number; gapMs: number; done: () => void } | undefined;
  private lastSequence: number | undefined;
  private lastPacketSamples = PACKET_SAMPLES;
  private lastEventTimestamp: number | undefined;
  private pending = new Int16Array(0);
  private closed = false;
  /** When the far end last sent anything (RTP of any payload type, or RTCP). */
  lastActivity = performance.now();

  constructor(opts: RtpStreamOptions) {
    this.opts = opts;
    this.encoder = opts.media.codec.createEncoder();
    this.decoder = opts.media.codec.createDecoder();
    this.timestampStep = (opts.media.codec.clockRate * PACKET_MS) / 1000;
    opts.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
  }

  start(): void {
    this.clockStart = performance.now();
    this.schedule();
  }

  /** Queues one 10 ms frame (480 samples) for sending. */
  send(frame: Int16Array): void {
    if (frame.length !== FRAME_SAMPLES) throw new Error(`send() takes ${FRAME_SAMPLES}-sample frames (10 ms at 48 kHz), got ${frame.length}`);
    if (this.closed) return;
    this.sendQueue.push(frame);
    while (this.sendQueue.length > SEND_QUEUE_FRAMES) {
      this.sendQueue.shift();
      this.stats.sendFramesDropped++;
    }
  }

  /** Sends digits as RFC 4733 events, one after the other; resolves once the last one is out. */
  sendDtmf(digits: string): Promise<void> {
    if (!this.opts.media.dtmf) return Promise.reject(new Error('the far end did not negotiate telephone-event; cannot send RFC 4733 DTMF'));
    try {
      for (const d of digits) dtmfEventCode(d);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.all([...digits].map((digit) => new Promise<void>((done) => this.dtmfQueue.push({ digit, done })))).then(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.encoder.close();
    this.decoder.close();
    for (const { done } of this.dtmfQueue.splice(0)) done();
    this.dtmfState?.done();
  }

  // Deadline-based clock: each tick is scheduled against the start time, not the previous tick, so
  // timer lateness does not accumulate; a late tick sends the packets it owes (at most 5).
  private schedule(): void {
    if (this.closed) return;
    const nextAt = this.clockStart + (this.ticks + 1) * PACKET_MS;
    this.timer = setTimeout(() => {
      const due = Math.floor((performance.now() - this.clockStart) / PACKET_MS);
      if (due - this.ticks > 5) this.ticks = due - 5; // a long stall: skip rather than burst
      while (this.ticks < due) {
        this.tick();
        this.ticks++;
      }
      this.schedule();
    }, Math.max(0, nextAt - performance.now()));
  }

  private tick(): void {
    if (this.closed) return;
    if (this.sendDtmfTick()) {
      // While an event plays, its audio is not sent; the audio clock still moves on.
      this.takePacketPcm();
      this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
      return;
    }
    const pcm = this.takePacketPcm();
    this.transmit(this.opts.media.payloadType, this.encoder.encode(pcm), this.firstPacket);
    this.firstPacket = false;
    this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
  }

  private takePacketPcm(): Int16Array {
    const frames = PACKET_SAMPLES / FRAME_SAMPLES;
    // After an underrun, wait for one frame of slack beyond a packet, so a producer whose 10 ms
    // clock is out of phase with ours does not starve every other tick.
    if (!this.primed && this.sendQueue.length >= frames + 1) this.primed = true;
    if (!this.primed || this.sendQueue.length < frames) {
      if (this.primed) this.stats.sendUnderruns++;
      this.primed = false;
      return new Int16Array(PACKET_SAMPLES);
    }
    const pcm = new Int16Array(PACKET_SAMPLES);
    for (let i = 0; i < frames; i++) pcm.set(this.sendQueue.shift()!, i * FRAME_SAMPLES);
    return pcm;
  }

  /** Sends this tick's telephone-event packet if a digit is playing; true when it took the tick. */
  private sendDtmfTick(): boolean {
    const dtmf = this.opts.media.dtmf;
    if (!dtmf) return false;
    if (!this.dtmfState) {
      const next = this.dtmfQueue.shift();
      if (!next) return false;
      this.dtmfState = { code: dtmfEventCode(next.digit), timestamp: this.timestamp, elapsedMs: 0, endsSent: 0, gapMs: 0, done: next.done };
    }
    const s = this.dtmfState;
    if (s.endsSent >= DTMF_END_REPEATS) {
      // Audio between digits, so the far end sees separate events.
      s.gapMs += PACKET_MS;
      if (s.gapMs >= DTMF_GAP_MS) {
        this.dtmfState = undefined;
        s.done();
      }
      return false;
    }
    s.elapsedMs = Math.min(s.elapsedMs + PACKET_MS, DTMF_TONE_MS);
    const end = s.elapsedMs >= DTMF_TONE_MS;
    if (end) s.endsSent++;
    const duration = (s.elapsedMs * dtmf.clockRate) / 1000;
    const payload = packTelephoneEvent({ event: s.code, end, volume: 10, duration });
    this.transmit(dtmf.payloadType, payload, s.elapsedMs === PACKET_MS, s.timestamp);
    return true;
  }

  private transmit(payloadType: number, payload: Uint8Array, marker: boolean, timestamp = this.timestamp): void {
    const packet = packRtp({ payloadType, marker, sequence: this.sequence, timestamp, ssrc: this.ssrc, payload });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.stats.packetsSent++;
    this.opts.socket.send(packet, this.opts.remote.port, this.opts.remote.address, (err) => {
      if (err && !this.closed) this.opts.log.warn({ err: err.message }, 'RTP send failed');
    });
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (rinfo.address !== this.opts.remote.address) {
      this.stats.packetsForeign++;
      return;
    }
    this.lastActivity = performance.now();
    const packet = parseRtp(msg);
    if (!packet) return;
    const dtmf = this.opts.media.dtmf;
    const isEvent = dtmf !== undefined && packet.payloadType === dtmf.payloadType;
    if (!isEvent && packet.payloadType !== this.opts.media.payloadType) return; // comfort noise or an unnegotiated format
    // Events and audio share one sequence space: an event between audio packets is not a loss.
    let lost = 0;
    if (this.lastSequence !== undefined) {
      const delta = (packet.sequence - this.lastSequence) & 0xffff;
      if (delta === 0 || delta > 0x8000) {
        if (!isEvent) this.stats.packetsLate++;
        return;
      }
      lost = delta - 1;
    }
    this.lastSequence = packet.sequence;
    if (isEvent) {
      this.receiveEvent(packet.payload, packet.timestamp);
      return;
    }
    this.stats.packetsReceived++;
    if (lost > 0) {
      this.stats.packetsLost += lost;
      const conceal = Math.min(lost * this.lastPacketSamples, (BRIDGE_RATE * MAX_CONCEALED_MS) / 1000);
      this.emitPcm(new Int16Array(conceal));
    }
    let pcm: Int16Array;
    try {
      pcm = this.decoder.decode(packet.payload);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, payloadType: packet.payloadType }, 'undecodable RTP payload dropped');
      return;
    }
    this.lastPacketSamples = pcm.length;
    this.emitPcm(pcm);
  }

  private receiveEvent(payload: Uint8Array, timestamp: number): void {
    const event = parseTelephoneEvent(payload);
    if (!event) return;
    // One event is many packets with the same timestamp (updates, then the end packet thrice).
    if (timestamp === this.lastEventTimestamp) return;
    this.lastEventTimestamp = timestamp;
    const digit = dtmfDigit(event.event);
    if (digit !== undefined) this.opts.onDtmf(digit);
  }

  private emitPcm(pcm: Int16Array): void {
    let buf = pcm;
    if (this.pending.length > 0) {
      buf = new Int16Array(this.pending.length + pcm.length);
      buf.set(this.pending);
      buf.set(pcm, this.pending.length);
    }
    let offset = 0;
    for (; offset + FRAME_SAMPLES <= buf.length; offset += FRAME_SAMPLES) this.opts.onFrame(buf.slice(offset, offset + FRAME_SAMPLES));
    this.pending = buf.slice(offset);
  }
}
