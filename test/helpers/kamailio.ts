// Kamailio from Debian as the tests' SIP trunk: a registrar and proxy on loopback that demands
// digest authentication (401 for REGISTER, 407 for INVITE) from two known users and routes
// INVITEs to whoever registered the called user. Plain-text passwords in the test config only.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TRUNK_USERS = { bridge: 'bridge-secret', baresip: 'phone-secret' } as const;

export class Kamailio {
  readonly port: number;
  readonly dir: string;
  log = '';
  private proc: ChildProcess | undefined;

  constructor(port: number, opts: { maxExpires?: number } = {}) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), 'kamailio-'));
    const users = Object.entries(TRUNK_USERS)
      .map(([u, pw], i) => `${i ? 'else ' : ''}if ($fU == "${u}") { $var(pw) = "${pw}"; }`)
      .join('\n  ');
    writeFileSync(
      join(this.dir, 'kamailio.cfg'),
      `#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("registrar", "max_expires", ${opts.maxExpires ?? 3600})
modparam("registrar", "min_expires", 5)

request_route {
  xlog("L_INFO", "REQUEST $rm from $fu to $ru ($si:$sp) auth=$hdr(Authorization)$hdr(Proxy-Authorization)\\n");
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  remove_hf("Route");
  ${users}
  else { sl_send_reply("403", "Unknown user"); exit; }
  if (is_method("REGISTER")) {
    if (!pv_auth_check("$fd", "$var(pw)", "0", "1")) { auth_challenge("$fd", "1"); exit; }
    consume_credentials();
    if (!save("location")) sl_reply_error();
    xlog("L_INFO", "REGISTERED $fu expires=$hdr(Expires)\\n");
    exit;
  }
  if (is_method("INVITE")) {
    if (!pv_auth_check("$fd", "$var(pw)", "0", "1")) { auth_challenge("$fd", "1"); exit; }
    consume_credentials();
    record_route();
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    xlog("L_INFO", "RELAY $rm to $ru\\n");
    t_relay();
    exit;
  }
  sl_send_reply("405", "Method Not Allowed");
}
`,
    );
  }

  async start(): Promise<void> {
    this.proc = spawn('kamailio', ['-f', join(this.dir, 'kamailio.cfg'), '-DD', '-E', '-Y', this.dir, '-P', join(this.dir, 'kamailio.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    for (let i = 0; !/SO_RCVBUF is finally/.test(this.log); i++) {
      if (this.proc.exitCode !== null || i > 100) throw new Error(`kamailio did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Lines of its request log ("REQUEST …", "REGISTERED …", "RELAY …"). */
  lines(prefix: string): string[] {
    return this.log.split('\n').filter((l) => l.includes(` ${prefix} `) || l.includes(`: ${prefix} `));
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(killer);
  }
}
