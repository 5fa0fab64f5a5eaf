// The SIP user agent of the audio bridge: answers INVITEs the caller's `onInvite` accepts, dials out
// (directly or through a trunk with digest authentication), and keeps a trunk registration fresh.
// Signalling runs on the `sip` package's transaction layer (UDP, and TCP on the same port if asked);
// dialogs, SDP offer/answer and RTP are ours. IPv4 only (the package's URI parser has no IPv6 hosts).
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import sip, { type NameAddr, type Remote, type SipMessage, type SipStack } from 'sip';
import digest, { type DigestContext } from 'sip/digest.js';
import { RecorderError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { SourceFilter, userAllowed } from './access.ts';
import { ALL_CODECS, type CodecName } from './codecs.ts';
import { buildAnswer, buildOffer, chooseMedia, parseRemoteSdp, type LocalSdpInput, type MediaChoice } from './sdp.ts';
import { createSipStack } from './sip-stack.ts';
import { SipLeg, type Dialog, type DialogSender, type SipParty } from './sip-leg.ts';

export interface SipTrunkConfig {
  /** The trunk's proxy/registrar, e.g. "sip:sip.example.net:5060"; numbers are dialled through it. */
  proxy: string;
  /** Domain for our From/To and the REGISTER request URI; defaults to the proxy's host. */
  domain?: string;
  username: string;
  /** Digest password. Never logged. */
  password: string;
  /** Digest user when it differs from `username`. */
  authUsername?: string;
  register?: boolean;
  /** Requested registration lifetime in seconds (default 300); refreshed at 80 % of what the registrar grants. */
  registerExpires?: number;
}

export interface SipEndpointConfig {
  /** Where SIP is received. The port must be a real port (the `sip` package cannot bind port 0). */
  listen: { address: string; port: number; tcp?: boolean };
  /** The address written in Via, Contact and SDP; defaults to `listen.address` (which then must not be 0.0.0.0). */
  publicAddress?: string;
  /** RTP: bind address (default: listen address) and the port range an RTP/RTCP pair is taken from. */
  rtp?: { address?: string; portMin?: number; portMax?: number };
  /** Source addresses/CIDRs allowed to send requests; anything else gets 403. Undefined: any. */
  allowedSources?: string[];
  /** Caller users ("alice" or "alice@host") allowed to call in; anything else gets 403. Undefined: any. */
  allowedUsers?: string[];
  /** A leg whose far end sends nothing (RTP or RTCP) for this long is hung up (default 30 s; 0 never). */
  mediaTimeoutMs?: number;
  /** Codecs offered and accepted, in order of preference (default opus, PCMU, PCMA). */
  codecs?: CodecName[];
  /** User part of our URI for dial-outs without a trunk (default "bridge"), and our display name. */
  localUser?: string;
  displayName?: string;
  trunk?: SipTrunkConfig;
  /** Decides an inbound call (room mapping): accept, or reject with a SIP status (404, 480, 486…). */
  onInvite: (info: InviteInfo) => InviteDecision | Promise<InviteDecision>;
  /** An accepted inbound call, answered and with media running. */
  onCall: (leg: SipLeg, info: InviteInfo) => void;
}

export interface InviteInfo {
  callId: string;
  from: SipParty;
  to: SipParty;
  /** The Request-URI and its user part: the number or name that was dialled. */
  requestUri: string;
  requestUser: string | undefined;
  source: { address: string; port: number; protocol: string };
}

export interface RegistrationState {
  registered: boolean;
  successes: number;
  grantedSeconds?: number;
  lastError?: string;
  at?: Date;
}

export type InviteDecision = { accept: true } | { accept: false; status: number; reason?: string };

/** MRR_SIP_CALL: a dial-out was refused or failed; `status` is the SIP status (408 for our timeout). */
export class SipCallError extends RecorderError {
  readonly status: number;
  constructor(status: number, reason: string) {
    super(`SIP call failed: ${status} ${reason}`, 'MRR_SIP_CALL', { userMessage: `the call failed (${status} ${reason})`, retryable: status >= 500 || status === 408 || status === 480 || status === 486 });
    this.status = status;
  }
}

export interface DialOptions {
  /** Our user part and display name in From (default: the trunk username, else `localUser`). */
  fromUser?: string;
  displayName?: string;
  /** Give up (CANCEL) if not answered within this many ms (default 60 s). */
  timeoutMs?: number;
}

const USER_AGENT = 'matrixrtc-recorder-sip';
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';

const token = (bytes = 8) => randomBytes(bytes).toString('hex');

function party(addr: NameAddr | undefined): SipParty {
  const uri = addr ? sip.stringifyUri(addr.uri) : '';
  const parsed = uri ? sip.parseUri(uri) : undefined;
  const name = addr?.name?.replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1').trim();
  return { uri, user: parsed?.user ? decodeURIComponent(parsed.user) : undefined, displayName: name || undefined };
}

interface PendingInvite {
  rq: SipMessage;
  cancelled: boolean;
}

interface RtpPair {
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  port: number;
}

export class SipEndpoint implements DialogSender {
  private readonly config: SipEndpointConfig;
  private readonly log: Logger;
  private readonly stack: SipStack;
  private readonly publicAddress: string;
  private readonly sources: SourceFilter;
  private readonly codecs: CodecName[];
  private readonly legs = new Map<string, SipLeg>();
  private readonly dialogs = new Map<string, Dialog>();
  private readonly pendingInvites = new Map<string, PendingInvite>();
  private readonly awaitingAck = new Map<string, () => void>();
  private readonly localSdp = new Map<string, string>();
  private registerTimer: NodeJS.Timeout | undefined;
  private registration: { callId: string; tag: string; cseq: number; expires: number } | undefined;
  private registrationStatus: RegistrationState = { registered: false, successes: 0 };
  private stopped = false;

  private constructor(config: SipEndpointConfig, log: Logger, stack: SipStack, publicAddress: string) {
    this.config = config;
    this.log = log;
    this.stack = stack;
    this.publicAddress = publicAddress;
    this.sources = new SourceFilter(config.allowedSources);
    this.codecs = config.codecs ?? ALL_CODECS;
  }

  /** Binds the SIP port(s), and registers with the trunk when configured to (failures are logged and retried). */
  static async start(config: SipEndpointConfig, log: Logger): Promise<SipEndpoint> {
    const publicAddress = config.publicAddress ?? config.listen.address;
    if (publicAddress === '0.0.0.0') throw new Error('SIP publicAddress is required when listening on 0.0.0.0');
    if (!Number.isInteger(config.listen.port) || config.listen.port <= 0) throw new Error('SIP listen.port must be a fixed port (1-65535)');
    if (config.codecs && config.codecs.length === 0) throw new Error('SIP codecs must name at least one codec');
    // The sip package binds without an error listener; probe first so a taken port is a clear error.
    await probeUdpPort(config.listen.address, config.listen.port);
    const sipLog = log.child({ module: 'sip' });
    let endpoint: SipEndpoint | undefined;
    const stack = createSipStack(
      {
        address: config.listen.address,
        port: config.listen.port,
        publicAddress,
        udp: true,
        tcp: config.listen.tcp ?? false,
        logger: { error: (e) => sipLog.error({ err: e instanceof Error ? e.message : String(e) }, 'SIP stack error') },
      },
      (rq, remote) => endpoint!.onRequest(rq, remote),
    );
    endpoint = new SipEndpoint(config, sipLog, stack, publicAddress);
    sipLog.info({ address: config.listen.address, port: config.listen.port, tcp: config.listen.tcp ?? false, codecs: endpoint.codecs }, 'SIP endpoint listening');
    if (config.trunk?.register) void endpoint.register();
    return endpoint;
  }

  /** The trunk registration as of the last attempt (successes counts the first one and each refresh). */
  get registrationState(): Readonly<RegistrationState> {
    return this.registrationStatus;
  }

  get activeLegs(): SipLeg[] {
    return [...this.legs.values()];
  }

  get contactUri(): string {
    return `sip:${this.config.localUser ?? 'bridge'}@${this.publicAddress}:${this.config.listen.port}`;
  }

  /** Hangs up every leg, removes the trunk registration, and closes the SIP sockets. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.registerTimer);
    await Promise.allSettled(this.activeLegs.map((leg) => leg.hangup('endpoint stopping')));
    if (this.registration) await this.sendRegister(0).catch((err) => this.log.warn({ err: (err as Error).message }, 'unregister failed'));
    this.stack.destroy();
  }

  // ---- inbound -------------------------------------------------------------------------------

  private onRequest(rq: SipMessage, remote: Remote): void {
    const callId = rq.headers['call-id'] ?? '';
    if (rq.method === 'ACK') {
      this.awaitingAck.get(callId)?.();
      return;
    }
    const toTag = rq.headers.to?.params?.tag;
    const dialog = this.dialogs.get(callId);
    if (dialog && toTag === dialog.localTag) return this.onDialogRequest(rq, dialog);
    if (rq.method === 'CANCEL') return this.onCancel(rq);
    if (toTag) return this.respond(rq, 481, 'Call/Transaction Does Not Exist');
    if (!this.sources.allows(remote.address)) {
      this.log.warn({ method: rq.method, source: remote.address }, 'SIP request from a source that is not allowed');
      return this.respond(rq, 403, 'Forbidden');
    }
    switch (rq.method) {
      case 'INVITE':
        void this.onInvite(rq, remote).catch((err) => {
          this.log.error({ callId, err: (err as Error).message }, 'inbound INVITE failed');
          this.respond(rq, 500, 'Server Internal Error');
        });
        return;
      case 'OPTIONS':
        return this.respond(rq, 200, 'OK', { allow: ALLOW, accept: 'application/sdp' });
      case 'BYE':
        return this.respond(rq, 481, 'Call/Transaction Does Not Exist');
      default:
        return this.respond(rq, 405, 'Method Not Allowed', { allow: ALLOW });
    }
  }

  private async onInvite(rq: SipMessage, remote: Remote): Promise<void> {
    const callId = rq.headers['call-id'] ?? '';
    if (this.pendingInvites.has(callId)) return; // a retransmission: the transaction layer resends our last response
    this.respond(rq, 100, 'Trying');
    const info: InviteInfo = {
      callId,
      from: party(rq.headers.from),
      to: party(rq.headers.to),
      requestUri: sip.stringifyUri(rq.uri ?? ''),
      requestUser: sip.parseUri(rq.uri ?? '')?.user,
      source: { address: remote.address, port: remote.port, protocol: remote.protocol },
    };
    const log = this.log.child({ callId, from: info.from.uri, to: info.requestUri, source: remote.address });
    const fromUri = sip.parseUri(info.from.uri);
    if (!userAllowed(this.config.allowedUsers, fromUri?.user, fromUri?.host)) {
      log.warn('SIP caller user is not allowed');
      return this.respond(rq, 403, 'Forbidden');
    }
    if (!rq.content) return this.respond(rq, 488, 'Not Acceptable Here (an SDP offer is required)');
    let remoteMedia;
    try {
      remoteMedia = parseRemoteSdp(rq.content);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'unusable SDP offer');
      return this.respond(rq, 488, 'Not Acceptable Here');
    }
    const choice = chooseMedia(remoteMedia, this.codecs);
    if (!choice) {
      log.warn({ offered: remoteMedia.formats.map((f) => f.name) }, 'no common codec');
      return this.respond(rq, 488, 'Not Acceptable Here');
    }
    const pending: PendingInvite = { rq, cancelled: false };
    this.pendingInvites.set(callId, pending);
    try {
      const decision = await this.config.onInvite(info);
      if (pending.cancelled) return;
      if (!decision.accept) {
        log.info({ status: decision.status, reason: decision.reason }, 'inbound call rejected');
        return this.respond(rq, decision.status, decision.reason ?? defaultReason(decision.status));
      }
      const rtp = await this.allocateRtp();
      const localTag = token();
      const sdpInput: LocalSdpInput = { address: this.publicAddress, port: rtp.port, sessionId: String(Date.now()), sessionVersion: 1 };
      const answer = buildAnswer(sdpInput, choice);
      const contact = firstContact(rq);
      if (!contact) {
        closeRtp(rtp);
        return this.respond(rq, 400, 'Missing Contact');
      }
      const dialog: Dialog = {
        callId,
        localTag,
        remoteTag: String(rq.headers.from?.params?.tag ?? ''),
        local: { ...rq.headers.to!, params: {} },
        remote: { ...rq.headers.from!, params: {} },
        remoteTarget: contact,
        routeSet: rq.headers['record-route'] ?? [],
        localCseq: Math.floor(Math.random() * 10000),
      };
      const ok = sip.makeResponse(rq, 200, 'OK', {
        headers: {
          to: { ...rq.headers.to, params: { ...rq.headers.to?.params, tag: localTag } },
          contact: [{ uri: this.contactUri }],
          'content-type': 'application/sdp',
          allow: ALLOW,
          'user-agent': USER_AGENT,
          ...(rq.headers['record-route'] ? { 'record-route': rq.headers['record-route'] } : {}),
        },
        content: answer,
      });
      this.dialogs.set(callId, dialog);
      this.localSdp.set(callId, answer);
      const leg = this.createLeg('inbound', dialog, choice, rtp, remoteMedia, info.from, info.to, log);
      this.stack.send(ok);
      this.retransmitUntilAck(ok, leg);
      log.info({ codec: choice.codec.name, dtmf: choice.dtmf }, 'inbound call answered');
      this.config.onCall(leg, info);
    } finally {
      this.pendingInvites.delete(callId);
    }
  }

  // RFC 3261 §13.3.1.4: the UAS core resends a 2xx until the ACK arrives (T1 doubling to T2, 64·T1 in all).
  private retransmitUntilAck(ok: SipMessage, leg: SipLeg): void {
    let interval = 500;
    let timer: NodeJS.Timeout;
    const giveUp = setTimeout(() => {
      clear();
      if (!leg.isEnded) void leg.hangup('no ACK for 200 OK');
    }, 32_000);
    const resend = () => {
      this.stack.send(ok);
      interval = Math.min(interval * 2, 4000);
      timer = setTimeout(resend, interval);
    };
    timer = setTimeout(resend, interval);
    const clear = () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      this.awaitingAck.delete(leg.callId);
    };
    this.awaitingAck.set(leg.callId, clear);
    void leg.ended.then(clear);
  }

  private onCancel(rq: SipMessage): void {
    const pending = this.pendingInvites.get(rq.headers['call-id'] ?? '');
    if (!pending) return this.respond(rq, 481, 'Call/Transaction Does Not Exist');
    this.respond(rq, 200, 'OK');
    pending.cancelled = true;
    this.respond(pending.rq, 487, 'Request Terminated');
    this.log.info({ callId: rq.headers['call-id'] }, 'inbound call cancelled by the caller');
  }

  private onDialogRequest(rq: SipMessage, dialog: Dialog): void {
    const leg = this.legs.get(dialog.callId);
    if (rq.method === 'INVITE' || rq.method === 'UPDATE') {
      // Session refresh or hold: keep our media as negotiated and answer with our current SDP.
      const sdp = this.localSdp.get(dialog.callId);
      return this.respond(rq, 200, 'OK', { contact: [{ uri: this.contactUri }], ...(sdp ? { 'content-type': 'application/sdp' } : {}) }, sdp);
    }
    if (rq.method === 'OPTIONS') return this.respond(rq, 200, 'OK', { allow: ALLOW });
    if (!leg) return this.respond(rq, 481, 'Call/Transaction Does Not Exist');
    const r = leg.handleRequest(rq);
    this.respond(rq, r.status, r.reason);
  }

  private respond(rq: SipMessage, status: number, reason: string, headers: Record<string, unknown> = {}, content?: string): void {
    const dialog = this.dialogs.get(rq.headers['call-id'] ?? '');
    const to = rq.headers.to && !rq.headers.to.params?.tag && status > 100 ? { ...rq.headers.to, params: { ...rq.headers.to.params, tag: dialog?.localTag ?? token() } } : rq.headers.to;
    this.stack.send(sip.makeResponse(rq, status, reason, { headers: { to, 'user-agent': USER_AGENT, ...headers }, ...(content ? { content } : {}) }));
  }

  // ---- outbound ------------------------------------------------------------------------------

  /** Calls a SIP URI ("sip:alice@192.0.2.5:5060") or, through the trunk, a number; resolves once answered. */
  async dial(target: string, opts: DialOptions = {}): Promise<SipLeg> {
    if (this.stopped) throw new Error('the SIP endpoint is stopped');
    const trunk = this.config.trunk;
    const viaTrunk = !/^sips?:/i.test(target);
    if (viaTrunk && !trunk) throw new SipCallError(404, `"${target}" is not a SIP URI and no trunk is configured for numbers`);
    const trunkHost = trunk ? sip.parseUri(trunk.proxy)?.host : undefined;
    if (trunk && !trunkHost) throw new Error(`SIP trunk proxy ${JSON.stringify(trunk.proxy)} is not a SIP URI`);
    const domain = trunk?.domain ?? trunkHost;
    const requestUri = viaTrunk ? `sip:${encodeURIComponent(target).replace(/%2B/g, '+')}@${domain}` : target;
    if (!sip.parseUri(requestUri)) throw new SipCallError(400, `"${target}" is not a usable SIP URI`);
    const fromUser = opts.fromUser ?? trunk?.username ?? this.config.localUser ?? 'bridge';
    const fromHost = trunk && viaTrunk ? domain! : this.publicAddress;
    const callId = `${token(12)}@${this.publicAddress}`;
    const localTag = token();
    const displayName = opts.displayName ?? this.config.displayName;
    const local: NameAddr = { ...(displayName ? { name: `"${displayName.replace(/"/g, '')}"` } : {}), uri: `sip:${fromUser}@${fromHost}`, params: {} };
    const remote: NameAddr = { uri: requestUri, params: {} };
    const log = this.log.child({ callId, to: requestUri });
    const rtp = await this.allocateRtp();
    const offer = buildOffer({ address: this.publicAddress, port: rtp.port, sessionId: String(Date.now()), sessionVersion: 1 }, this.codecs);
    const routeSet: NameAddr[] = trunk && viaTrunk ? [{ uri: `${trunk.proxy};lr` }] : [];
    let cseq = 1;
    const makeInvite = (): SipMessage => ({
      method: 'INVITE',
      uri: requestUri,
      headers: {
        to: { ...remote },
        from: { ...local, params: { tag: localTag } },
        'call-id': callId,
        cseq: { seq: cseq, method: 'INVITE' },
        contact: [{ uri: this.contactUri }],
        'max-forwards': 70,
        allow: ALLOW,
        'user-agent': USER_AGENT,
        'content-type': 'application/sdp',
        ...(routeSet.length ? { route: routeSet.map((r) => ({ ...r })) } : {}),
      },
      content: offer,
    });
    log.info({ viaTrunk }, 'dialling out');
    return new Promise<SipLeg>((resolve, reject) => {
      let settled = false;
      let leg: SipLeg | undefined;
      let current = makeInvite();
      let auth: DigestContext | undefined;
      let authTries = 0;
      const fail = (status: number, reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        closeRtp(rtp);
        log.info({ status, reason }, 'dial-out failed');
        reject(new SipCallError(status, reason));
      };
      const timeout = setTimeout(() => {
        this.stack.send({
          method: 'CANCEL',
          uri: current.uri!,
          headers: { to: current.headers.to!, from: current.headers.from!, 'call-id': callId, cseq: { seq: cseq, method: 'CANCEL' }, via: current.headers.via!.slice(0, 1), 'max-forwards': 70, ...(current.headers.route ? { route: current.headers.route } : {}) },
        });
        fail(408, 'no answer (cancelled)');
      }, opts.timeoutMs ?? 60_000);
      const onResponse = (rs: SipMessage) => {
        const status = rs.status ?? 0;
        if (status < 200) return;
        if (status >= 300) {
          if ((status === 401 || status === 407) && trunk && authTries === 0 && !settled) {
            authTries++;
            cseq++;
            current = makeInvite();
            auth = digest.signRequest(auth, current, rs, { user: trunk.authUsername ?? trunk.username, password: trunk.password }) ?? undefined;
            this.stack.send(current, onResponse);
            return;
          }
          return fail(status, rs.reason ?? defaultReason(status));
        }
        // 2xx: ACK every copy (retransmissions mean our ACK was lost); set up the leg once.
        const remoteTag = String(rs.headers.to?.params?.tag ?? '');
        const target = firstContact(rs) ?? requestUri;
        const routes = [...(rs.headers['record-route'] ?? [])].reverse();
        this.stack.send({
          method: 'ACK',
          uri: target,
          headers: { to: rs.headers.to!, from: current.headers.from!, 'call-id': callId, cseq: { seq: cseq, method: 'ACK' }, 'max-forwards': 70, ...(routes.length ? { route: routes.map((r) => ({ ...r })) } : routeSet.length ? { route: routeSet.map((r) => ({ ...r })) } : {}) },
        });
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        const dialog: Dialog = { callId, localTag, remoteTag, local, remote: { ...rs.headers.to!, params: {} }, remoteTarget: target, routeSet: routes.length ? routes : routeSet, localCseq: cseq };
        if (auth) this.dialogAuth.set(callId, auth);
        let media: MediaChoice | undefined;
        let remoteMedia;
        try {
          remoteMedia = parseRemoteSdp(rs.content ?? '');
          media = chooseMedia(remoteMedia, this.codecs);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'unusable SDP answer');
        }
        this.dialogs.set(callId, dialog);
        this.localSdp.set(callId, offer);
        if (!media || !remoteMedia) {
          closeRtp(rtp);
          void this.sendInDialog(dialog, 'BYE').finally(() => this.dialogs.delete(callId));
          reject(new SipCallError(488, 'the answer has no codec we offered'));
          return;
        }
        leg = this.createLeg('outbound', dialog, media, rtp, remoteMedia, party(rs.headers.to), party(local), log);
        log.info({ codec: media.codec.name, dtmf: media.dtmf }, 'dial-out answered');
        resolve(leg);
      };
      this.stack.send(current, onResponse);
    });
  }

  private readonly dialogAuth = new Map<string, DigestContext>();

  /** Sends BYE/INFO… in a dialog; answers a 401/407 once with the trunk's credentials. Resolves with the final response. */
  sendInDialog(dialog: Dialog, method: string, extra: { contentType?: string; content?: string } = {}): Promise<SipMessage> {
    const build = (): SipMessage => ({
      method,
      uri: dialog.remoteTarget,
      headers: {
        to: { ...dialog.remote, params: { tag: dialog.remoteTag } },
        from: { ...dialog.local, params: { tag: dialog.localTag } },
        'call-id': dialog.callId,
        cseq: { seq: ++dialog.localCseq, method },
        'max-forwards': 70,
        'user-agent': USER_AGENT,
        ...(dialog.routeSet.length ? { route: dialog.routeSet.map((r) => ({ ...r })) } : {}),
        ...(extra.contentType ? { 'content-type': extra.contentType } : {}),
      },
      ...(extra.content ? { content: extra.content } : {}),
    });
    const trunk = this.config.trunk;
    return new Promise((resolve) => {
      let tried = false;
      const onResponse = (rs: SipMessage) => {
        const status = rs.status ?? 0;
        if (status < 200) return;
        if ((status === 401 || status === 407) && trunk && !tried) {
          tried = true;
          const rq = build();
          const ctx = digest.signRequest(this.dialogAuth.get(dialog.callId), rq, rs, { user: trunk.authUsername ?? trunk.username, password: trunk.password });
          if (ctx) this.dialogAuth.set(dialog.callId, ctx);
          this.stack.send(rq, onResponse);
          return;
        }
        resolve(rs);
      };
      this.stack.send(build(), onResponse);
    });
  }

  // ---- registration --------------------------------------------------------------------------

  /** REGISTERs with the trunk now and keeps refreshing; resolves after the first attempt (true: registered). */
  async register(): Promise<boolean> {
    const trunk = this.config.trunk;
    if (!trunk) throw new Error('no SIP trunk is configured to register with');
    clearTimeout(this.registerTimer);
    try {
      const granted = await this.sendRegister(trunk.registerExpires ?? 300);
      const refreshIn = Math.max(5, Math.floor(granted * 0.8));
      this.registrationStatus = { registered: true, successes: this.registrationStatus.successes + 1, grantedSeconds: granted, at: new Date() };
      this.log.info({ registrar: trunk.proxy, user: trunk.username, expires: granted, refreshIn }, 'registered with the SIP trunk');
      if (!this.stopped) this.registerTimer = setTimeout(() => void this.register(), refreshIn * 1000);
      return true;
    } catch (err) {
      this.registrationStatus = { registered: false, successes: this.registrationStatus.successes, lastError: (err as Error).message, at: new Date() };
      this.log.error({ registrar: trunk.proxy, user: trunk.username, err: (err as Error).message }, 'SIP registration failed; retrying in 30 s');
      if (!this.stopped) this.registerTimer = setTimeout(() => void this.register(), 30_000);
      return false;
    }
  }

  /** One REGISTER transaction (with a digest retry); resolves with the granted lifetime in seconds. */
  private sendRegister(expires: number): Promise<number> {
    const trunk = this.config.trunk!;
    const domain = trunk.domain ?? sip.parseUri(trunk.proxy)?.host;
    // Without a separate domain the proxy is the registrar; with one, the REGISTER for the domain goes via the proxy.
    const requestUri = trunk.domain ? `sip:${domain}` : trunk.proxy;
    const viaProxy = requestUri !== trunk.proxy;
    const reg = (this.registration ??= { callId: `${token(12)}@${this.publicAddress}`, tag: token(), cseq: 0, expires });
    const aor = `sip:${trunk.username}@${domain}`;
    const contactUri = `sip:${trunk.username}@${this.publicAddress}:${this.config.listen.port}`;
    const build = (): SipMessage => ({
      method: 'REGISTER',
      uri: requestUri,
      headers: {
        to: { uri: aor, params: {} },
        from: { uri: aor, params: { tag: reg.tag } },
        'call-id': reg.callId,
        cseq: { seq: ++reg.cseq, method: 'REGISTER' },
        contact: [{ uri: contactUri, params: {} }],
        expires: String(expires),
        'max-forwards': 70,
        'user-agent': USER_AGENT,
        ...(viaProxy ? { route: [{ uri: `${trunk.proxy};lr` }] } : {}),
      },
    });
    return new Promise((resolve, reject) => {
      let tried = false;
      const onResponse = (rs: SipMessage) => {
        const status = rs.status ?? 0;
        if (status < 200) return;
        if ((status === 401 || status === 407) && !tried) {
          tried = true;
          const rq = build();
          digest.signRequest(null, rq, rs, { user: trunk.authUsername ?? trunk.username, password: trunk.password });
          this.stack.send(rq, onResponse);
          return;
        }
        if (status >= 300) return reject(new Error(`REGISTER answered ${status} ${rs.reason ?? ''}`.trim()));
        if (expires === 0) {
          this.registration = undefined;
          return resolve(0);
        }
        const contacts = Array.isArray(rs.headers.contact) ? rs.headers.contact : [];
        const ours = contacts.find((c) => sip.stringifyUri(c.uri).startsWith(contactUri));
        const granted = Number(ours?.params?.expires ?? rs.headers.expires ?? expires);
        resolve(Number.isFinite(granted) && granted > 0 ? granted : expires);
      };
      this.stack.send(build(), onResponse);
    });
  }

  // ---- media ---------------------------------------------------------------------------------

  private createLeg(direction: 'inbound' | 'outbound', dialog: Dialog, media: MediaChoice, rtp: RtpPair, remoteMedia: { address: string; port: number }, remoteParty: SipParty, localParty: SipParty, log: Logger): SipLeg {
    const leg = new SipLeg({
      direction,
      dialog,
      remoteParty,
      localParty,
      media,
      rtpSocket: rtp.rtp,
      rtcpSocket: rtp.rtcp,
      remoteRtp: { address: remoteMedia.address, port: remoteMedia.port },
      sender: this,
      log,
      mediaTimeoutMs: this.config.mediaTimeoutMs ?? 30_000,
      onEnded: (l) => {
        this.legs.delete(l.callId);
        this.localSdp.delete(l.callId);
        this.dialogAuth.delete(l.callId);
        // Keep the dialog a little so a retransmitted BYE still gets its 200.
        setTimeout(() => this.dialogs.delete(l.callId), 32_000).unref();
      },
    });
    this.legs.set(dialog.callId, leg);
    return leg;
  }

  /** An RTP socket on an even port and RTCP on the next one, from the configured range. */
  private async allocateRtp(): Promise<RtpPair> {
    const address = this.config.rtp?.address ?? (this.config.listen.address === '0.0.0.0' ? '0.0.0.0' : this.config.listen.address);
    const min = this.config.rtp?.portMin ?? 20_000;
    const max = this.config.rtp?.portMax ?? 40_000;
    if (min < 1024 || max > 65_535 || max - min < 2) throw new Error(`SIP RTP port range ${min}-${max} is not usable`);
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = min + 2 * Math.floor(Math.random() * Math.floor((max - min) / 2)) + (min % 2);
      const rtp = await bindUdp(address, port).catch(() => undefined);
      if (!rtp) continue;
      const rtcp = await bindUdp(address, port + 1).catch(() => undefined);
      if (!rtcp) {
        rtp.close();
        continue;
      }
      return { rtp, rtcp, port };
    }
    throw new SipCallError(503, `no free RTP port pair in ${min}-${max}`);
  }
}

function firstContact(m: SipMessage): string | undefined {
  const c = m.headers.contact;
  return Array.isArray(c) && c[0] ? sip.stringifyUri(c[0].uri) : undefined;
}

function closeRtp(pair: RtpPair): void {
  pair.rtp.close();
  pair.rtcp.close();
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, address, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => {}); // ICMP port-unreachable after the far end left is not an error for us
      resolve(socket);
    });
  });
}

async function probeUdpPort(address: string, port: number): Promise<void> {
  const socket = await bindUdp(address, port).catch((err: Error) => {
    throw new Error(`SIP port ${address}:${port} cannot be bound: ${err.message}`);
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

function defaultReason(status: number): string {
  const reasons: Record<number, string> = { 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 480: 'Temporarily Unavailable', 486: 'Busy Here', 488: 'Not Acceptable Here', 503: 'Service Unavailable', 603: 'Decline' };
  return reasons[status] ?? 'Rejected';
}
