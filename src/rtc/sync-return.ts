// matrix-js-sdk's sync, once a request to the homeserver fails, checks again only every 5-10 s
// (its keep-alive on /versions). After a homeserver restart a call's device would then hear no
// to-device message (members' media keys) and no membership change for up to 10 s after the
// homeserver is back, and the bot could not decrypt a command typed meanwhile. While the sync is
// down, this asks /versions every second and has js-sdk retry at once when it answers.
import { ClientEvent, SyncState, type MatrixClient } from 'matrix-js-sdk';
import { httpProbe, probeUntilUp, type Probe } from '../http-probe.ts';
import type { Logger } from '../observability/logger.ts';

/** Between probes while the sync is down: at most this much later than the homeserver's return. */
export const SYNC_PROBE_INTERVAL_MS = 1_000;

/** Watches `client`'s sync for as long as the client runs. */
export function resumeSyncPromptly(client: MatrixClient, homeserverUrl: string, log: Logger, probe: Probe = httpProbe, intervalMs = SYNC_PROBE_INTERVAL_MS): void {
  const versions = `${homeserverUrl.replace(/\/+$/, '')}/_matrix/client/versions`;
  let stopWatching: (() => void) | undefined;
  const startWatching = () => {
    stopWatching ??= probeUntilUp(
      versions,
      () => {
        stopWatching = undefined;
        // False when js-sdk is not waiting on its keep-alive (it has retried already): nothing to do.
        if (client.retryImmediately()) log.info('the homeserver answers again; syncing now instead of at the next keep-alive');
      },
      { intervalMs, firstAfterMs: intervalMs, afterAway: false, probe },
    );
  };
  client.on(ClientEvent.Sync, (state: SyncState) => {
    if (state === SyncState.Error || state === SyncState.Reconnecting) startWatching();
    else {
      stopWatching?.();
      stopWatching = undefined;
    }
  });
}
