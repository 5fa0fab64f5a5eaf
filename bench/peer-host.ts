// The bench's simulated peers, in processes of their own: peers (Matrix clients with their
// crypto, rtc-node publishing tones and cameras) run here at the lowest CPU priority instead of in
// the bench's process. In a deployment the peers are other people's machines: sharing the
// recorder's two cores is the bench's artefact, and when the cores are short the recorder, the
// system measured, goes first. A peer starved here sends late, which the recorder's jitter buffer
// in libwebrtc conceals; a recorder starved shows as late and dropped chunks. Measured with four
// 8-peer calls: 1645-3024 chunks dropped with the peers at nice 10, 472 at nice 19.
//
// Run by startPeerHost (below) with an IPC channel; it starts peers on request, and when told to
// stop, stops them all and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestUser } from '../test/helpers/matrix.ts';
import type { RtcPeerOptions } from '../test/peers/rtc-peer.ts';

/** The peers' niceness (nice(1)): the lowest priority. */
export const PEER_NICENESS = 19;

/** What the bench asks of one peer (the stack is the host's own, read from stack.json). */
export type PeerRequest = Omit<RtcPeerOptions, 'stack' | 'user'> & { user: TestUser };

type ToHost = { type: 'start'; id: number; peer: PeerRequest } | { type: 'stop' };
type FromHost = { type: 'started'; id: number } | { type: 'failed'; id: number; message: string };

export interface PeerHost {
  /** Starts one peer in the host; resolves once it publishes. */
  start(peer: PeerRequest): Promise<void>;
  /** Stops every peer (they leave LiveKit and the MatrixRTC session) and ends the host. */
  stop(): Promise<void>;
}

export async function startPeerHost(): Promise<PeerHost> {
  const child = spawn('nice', ['-n', String(PEER_NICENESS), process.execPath, fileURLToPath(import.meta.url)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let nextId = 0;
  child.on('message', (message: FromHost) => {
    const wait = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.type === 'started') wait?.resolve();
    else wait?.reject(new Error(`a bench peer could not start: ${message.message}`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    for (const wait of waiting.values()) wait.reject(new Error(`the bench's peer host ended (${signal ?? `exit ${code}`}) before its peer started`));
    waiting.clear();
  });
  return {
    start: (peer) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        send(child, { type: 'start', id, peer });
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      send(child, { type: 'stop' });
      // The host exits once its peers have left; leaving takes a Matrix request per peer, and a
      // host that hangs is ended rather than waited for.
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function send(child: ChildProcess, message: ToHost): void {
  child.send(message);
}

/** The host's side: peers on request, all stopped on `stop`. */
async function host(): Promise<void> {
  const { startRtcPeer } = await import('../test/peers/rtc-peer.ts');
  const { readStackInfo } = await import('../test/stack/info.ts');
  const { dispose } = await import('@livekit/rtc-node');
  const { sendLibraryLogsToFile } = await import('../scripts/library-log.ts');
  // Like the bench's own: rtc-node and matrix-js-sdk log at debug to stdout otherwise.
  sendLibraryLogsToFile('mrr-bench-peers-');
  const stack = readStackInfo();
  const peers: Array<Awaited<ReturnType<typeof startRtcPeer>>> = [];
  const reply = (message: FromHost) => process.send!(message);
  process.on('message', (message: ToHost) => {
    if (message.type === 'start') {
      startRtcPeer({ ...message.peer, stack })
        .then((peer) => {
          peers.push(peer);
          reply({ type: 'started', id: message.id });
        })
        .catch((err: Error) => reply({ type: 'failed', id: message.id, message: err.message }));
    } else {
      void Promise.all(peers.map((p) => p.stop().catch((err: Error) => console.error(`[peer-host] a peer did not stop cleanly: ${err.message}`))))
        .then(() => dispose())
        .then(() => process.exit(0));
    }
  });
  // The bench gone (its IPC channel closed) means nobody will say stop.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await host();
