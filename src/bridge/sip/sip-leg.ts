// One answered or connected SIP call: its dialog (for BYE/INFO) and its RTP stream.
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import type { NameAddr, SipMessage } from 'sip';
import type { Logger } from '../../observability/logger.ts';
import type { CodecName } from './codecs.ts';
import { FrameQueue } from './frame-queue.ts';
import { RtpStream, type RtpStreamStats } from './rtp-stream.ts';
import type { MediaChoice } from './sdp.ts';

/** Received frames kept while the consumer lags: 50 × 10 ms. */
const RECEIVE_QUEUE_FRAMES = 50;

export interface SipParty {
  /** The From/To URI, e.g. "sip:+4930123@pbx.example". */
  uri: string;
  /** Its user part ("+4930123"), when it has one. */
  user: string | undefined;
  displayName: string | undefined;
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  local: NameAddr;
  remote: NameAddr;
  /** Where in-dialog requests go: the far end's Contact. */
  remoteTarget: string;
  routeSet: NameAddr[];
  localCseq: number;
}

export interface LegEnd {
  by: 'local' | 'remote';
  reason: string;
}

/** What a leg needs from its endpoint: sending in-dialog requests (with digest retries where configured). */
export interface DialogSender {
  sendInDialog(dialog: Dialog, method: string, extra?: { contentType?: string; content?: string }): Promise<SipMessage>;
}

export interface SipLegInit {
  direction: 'inbound' | 'outbound';
  dialog: Dialog;
  remoteParty: SipParty;
  localParty: SipParty;
  media: MediaChoice;
  rtpSocket: dgram.Socket;
  rtcpSocket: dgram.Socket;
  remoteRtp: { address: string; port: number };
  sender: DialogSender;
  log: Logger;
  onEnded: (leg: SipLeg) => void;
  /** Hang up when nothing arrives from the far end for this long (0: never). */
  mediaTimeoutMs: number;
}

export interface SipLegEvents {
  dtmf: [digit: string, via: 'rfc4733' | 'sip-info'];
}

export class SipLeg extends EventEmitter<SipLegEvents> {
  readonly direction: 'inbound' | 'outbound';
  readonly callId: string;
  /** The far end: the caller for inbound legs, the callee for dial-outs. */
  readonly remoteParty: SipParty;
  /** Our side as the far end addressed it (the dialled number/URI for inbound legs). */
  readonly localParty: SipParty;
  readonly codec: CodecName;
  /** Received audio: 48 kHz mono, 480 samples per frame; ends when the leg ends. One consumer. */
  readonly frames: AsyncIterable<Int16Array>;
  /** Resolves once, when either side ended the call. */
  readonly ended: Promise<LegEnd>;

  private readonly init: SipLegInit;
  private readonly queue = new FrameQueue<Int16Array>(RECEIVE_QUEUE_FRAMES);
  private readonly rtp: RtpStream;
  private resolveEnded!: (e: LegEnd) => void;
  private endState: LegEnd | undefined;
  private readonly startedAt = performance.now();
  private mediaWatch: NodeJS.Timeout | undefined;

  constructor(init: SipLegInit) {
    super();
    this.init = init;
    this.direction = init.direction;
    this.callId = init.dialog.callId;
    this.remoteParty = init.remoteParty;
    this.localParty = init.localParty;
    this.codec = init.media.codec.name;
    this.frames = this.queue;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.rtp = new RtpStream({
      socket: init.rtpSocket,
      remote: init.remoteRtp,
      media: init.media,
      log: init.log,
      onFrame: (f) => this.queue.push(f),
      onDtmf: (d) => this.emit('dtmf', d, 'rfc4733'),
    });
    // RTCP is not used, but it shows the far end is alive.
    init.rtcpSocket.on('message', (_m, rinfo) => {
      if (rinfo.address === init.remoteRtp.address) this.rtp.lastActivity = performance.now();
    });
    this.rtp.start();
    if (init.mediaTimeoutMs > 0) {
      // A far end that vanished without BYE (crash, network gone) would otherwise keep the leg forever.
      this.mediaWatch = setInterval(() => {
        const silentMs = performance.now() - this.rtp.lastActivity;
        if (silentMs >= init.mediaTimeoutMs) void this.hangup(`no media from the far end for ${Math.round(silentMs / 1000)} s`);
      }, Math.min(1000, init.mediaTimeoutMs / 2));
      this.mediaWatch.unref();
    }
  }

  get isEnded(): boolean {
    return this.endState !== undefined;
  }

  /** Queues one 10 ms frame (480 samples at 48 kHz) for the far end; see rtp-stream.ts for pacing. */
  send(frame: Int16Array): void {
    this.rtp.send(frame);
  }

  /** Sends DTMF digits (0-9 * # A-D) as RFC 4733 events; resolves when the last one has been sent. */
  sendDtmf(digits: string): Promise<void> {
    if (this.endState) return Promise.reject(new Error('the leg has ended'));
    return this.rtp.sendDtmf(digits);
  }

  get stats(): RtpStreamStats & { receiveFramesDropped: number; durationMs: number } {
    return { ...this.rtp.stats, receiveFramesDropped: this.queue.dropped, durationMs: Math.round(performance.now() - this.startedAt) };
  }

  /** Ends the call with BYE; resolves when the far end answered it (or did not within the SIP timeout). */
  async hangup(reason = 'hangup'): Promise<LegEnd> {
    if (this.endState) return this.endState;
    const end = this.finish({ by: 'local', reason });
    try {
      const rs = await this.init.sender.sendInDialog(this.init.dialog, 'BYE');
      if ((rs.status ?? 0) >= 300) this.init.log.warn({ callId: this.callId, status: rs.status }, 'BYE was refused; the leg is ended locally');
    } catch (err) {
      this.init.log.warn({ callId: this.callId, err: (err as Error).message }, 'BYE failed; the leg is ended locally');
    }
    return end;
  }

  /** An in-dialog request from the far end; returns the response status to send. */
  handleRequest(rq: SipMessage): { status: number; reason: string; content?: string; contentType?: string } {
    switch (rq.method) {
      case 'BYE':
        this.finish({ by: 'remote', reason: 'BYE' });
        return { status: 200, reason: 'OK' };
      case 'INFO': {
        const digit = parseDtmfInfo(rq);
        if (digit) this.emit('dtmf', digit, 'sip-info');
        return { status: 200, reason: 'OK' };
      }
      default:
        return { status: 501, reason: 'Not Implemented' };
    }
  }

  /** Ends the leg without signalling (the dialog is already gone, or never confirmed). */
  terminate(end: LegEnd): void {
    this.finish(end);
  }

  private finish(end: LegEnd): LegEnd {
    if (this.endState) return this.endState;
    this.endState = end;
    clearInterval(this.mediaWatch);
    this.rtp.close();
    this.queue.end();
    this.init.rtpSocket.close();
    this.init.rtcpSocket.close();
    this.init.log.info({ callId: this.callId, ...end, stats: this.stats }, 'SIP leg ended');
    this.init.onEnded(this);
    this.resolveEnded(end);
    return end;
  }
}

/** A digit from `application/dtmf-relay` ("Signal=5") or `application/dtmf` ("5") INFO bodies. */
function parseDtmfInfo(rq: SipMessage): string | undefined {
  const type = String(rq.headers['content-type'] ?? '').toLowerCase();
  const body = rq.content ?? '';
  const signal = type.startsWith('application/dtmf-relay') ? /signal\s*=\s*([0-9*#A-D])/i.exec(body)?.[1] : type.startsWith('application/dtmf') ? /^\s*([0-9*#A-D])/i.exec(body)?.[1] : undefined;
  return signal?.toUpperCase();
}
