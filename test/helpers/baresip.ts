// Runs baresip (Debian's SIP user agent) headless for tests: its own config dir, a sine tone as the
// microphone (ausine), what it hears recorded to WAV (sndfile), no audio devices, and control and
// events over ctrl_tcp (netstring-framed JSON).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BaresipOptions {
  sipPort: number;
  ctrlPort: number;
  rtpPortMin: number;
  /** Frequency of the tone baresip sends. */
  toneHz: number;
  /** Play back what it hears as its microphone (aubridge), instead of a tone: an echoing phone. */
  echo?: boolean;
  /** Codec modules to load, in preference order (default g711 then opus). */
  codecModules?: string[];
  user?: string;
  /** Register with this registrar (as `user`, with this password) instead of being reachable directly. */
  registrar?: { port: number; password: string };
  /** Hang up when no RTP arrived for this long (baresip's `rtp_timeout`; off by default), as phones and trunks do. */
  rtpTimeoutS?: number;
}

export interface BaresipEvent {
  type: string;
  class?: string;
  param?: string;
  peeruri?: string;
  [key: string]: unknown;
}

export class Baresip {
  readonly dir: string;
  readonly recordDir: string;
  readonly events: BaresipEvent[] = [];
  log = '';
  private proc!: ChildProcess;
  private ctrl!: net.Socket;
  private buf = Buffer.alloc(0);
  private readonly waiters: { pred: (e: BaresipEvent) => boolean; resolve: (e: BaresipEvent) => void }[] = [];
  private readonly responses = new Map<string, (r: { ok: boolean; data: string }) => void>();
  private nextToken = 1;
  private exited: Promise<void> | undefined;
  readonly opts: BaresipOptions;

  constructor(opts: BaresipOptions) {
    this.opts = opts;
    this.dir = mkdtempSync(join(tmpdir(), 'baresip-'));
    this.recordDir = join(this.dir, 'rec');
    mkdirSync(this.recordDir);
    const modules = opts.codecModules ?? ['g711', 'opus'];
    writeFileSync(
      join(this.dir, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${opts.sipPort}`,
        'net_interface 127.0.0.1',
        ...(opts.echo
          ? ['audio_player aubridge,echo', 'audio_alert aubridge,alert', 'audio_source aubridge,echo']
          : ['audio_player aubridge,nowhere', 'audio_alert aubridge,nowhere', `audio_source ausine,${opts.toneHz}`, 'ausrc_channels 2']),
        // ausine only makes 48 kHz stereo; baresip resamples to the codec's rate.
        'ausrc_srate 48000',
        'auplay_srate 48000',
        `rtp_ports ${opts.rtpPortMin}-${opts.rtpPortMin + 20}`,
        ...(opts.rtpTimeoutS ? [`rtp_timeout ${opts.rtpTimeoutS}`] : []),
        'module_path /usr/lib/baresip/modules',
        ...modules.map((m) => `module ${m}.so`),
        'module ausine.so',
        'module aubridge.so',
        'module sndfile.so',
        `snd_path ${this.recordDir}`,
        'module_app account.so',
        'module_app menu.so',
        'module ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${opts.ctrlPort}`,
        '',
      ].join('\n'),
    );
    const user = opts.user ?? 'baresip';
    const account = opts.registrar
      ? `<sip:${user}@127.0.0.1:${opts.registrar.port}>;auth_pass=${opts.registrar.password};regint=60;answermode=auto`
      : `<sip:${user}@127.0.0.1:${opts.sipPort}>;regint=0;answermode=auto`;
    writeFileSync(join(this.dir, 'accounts'), `${account}\n`);
    writeFileSync(join(this.dir, 'contacts'), '');
  }

  async start(): Promise<void> {
    this.proc = spawn('baresip', ['-f', this.dir, '-v'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    for (let i = 0; ; i++) {
      try {
        this.ctrl = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(this.opts.ctrlPort, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (err) {
        if (i > 100 || this.proc.exitCode !== null) throw new Error(`baresip ctrl_tcp did not come up: ${(err as Error).message}\n${this.log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.ctrl.on('data', (d: Buffer) => this.onData(d));
  }

  /** Runs a ctrl_tcp command ("dial", "hangup", "sndcode"…) and returns its response text. */
  command(command: string, params = ''): Promise<{ ok: boolean; data: string }> {
    const token = String(this.nextToken++);
    const json = JSON.stringify({ command, params, token });
    this.ctrl.write(`${Buffer.byteLength(json)}:${json},`);
    return new Promise((resolve) => this.responses.set(token, resolve));
  }

  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitEvent(pred: (e: BaresipEvent) => boolean, what: string, timeoutMs = 20_000): Promise<BaresipEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baresip: no ${what} within ${timeoutMs} ms; events: ${this.events.map((e) => e.type).join(',')}\n${this.log.slice(-3000)}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  /** Waits until baresip's own log (stdout/stderr) matches; for what happens before ctrl_tcp is connected. */
  async waitLog(re: RegExp, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.log)) {
      if (Date.now() > deadline) throw new Error(`baresip: no ${what} within ${timeoutMs} ms\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** WAV files sndfile wrote for what baresip decoded (heard). */
  heardFiles(): string[] {
    return readdirSync(this.recordDir).filter((f) => f.endsWith('-dec.wav')).map((f) => join(this.recordDir, f));
  }

  /** Kills it without any goodbye (no BYE, RTP just stops), as a crash or a pulled cable would. */
  async kill9(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.ctrl?.destroy();
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.ctrl?.destroy();
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(killer);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.buf.subarray(0, colon).toString());
      if (this.buf.length < colon + 1 + len + 1) return;
      const msg = JSON.parse(this.buf.subarray(colon + 1, colon + 1 + len).toString()) as Record<string, unknown>;
      this.buf = this.buf.subarray(colon + 1 + len + 1);
      if (msg.response) this.responses.get(String(msg.token))?.({ ok: Boolean(msg.ok), data: String(msg.data ?? '') });
      else if (msg.event) {
        const e = msg as BaresipEvent;
        this.events.push(e);
        for (const w of [...this.waiters]) {
          if (w.pred(e)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      }
    }
  }
}

/**
 * A UDP+TCP port that is free right now (for the SIP listener, which the endpoint cannot bind to
 * 0), with the next TCP port free too: baresip's SIP/TLS transport listens on the SIP port + 1,
 * and it fails to start when that one is taken.
 */
export async function freePort(): Promise<number> {
  const tcpFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (!(await tcpFree(port)) || !(await tcpFree(port + 1))) continue;
    const dgram = await import('node:dgram');
    const udpOk = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpOk) return port;
  }
}
