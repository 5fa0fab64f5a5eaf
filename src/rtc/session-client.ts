// The matrix-js-sdk client of one call session: its own device, crypto in memory only.
import { ClientEvent, createClient, Filter, SyncState, type MatrixClient } from 'matrix-js-sdk';
import { RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { SessionDevice } from './device.ts';
import { sdkLogger } from './sdk-logger.ts';
import { resumeSyncPromptly } from './sync-return.ts';

export async function startSessionClient(opts: {
  homeserverUrl: string;
  device: SessionDevice;
  log: Logger;
  syncTimeoutMs: number;
  withCrypto: boolean;
  /** The call's room: the only room this device syncs (to-device messages and device lists still come); unset: every room. */
  roomId?: string;
}): Promise<MatrixClient> {
  const client = createClient({
    baseUrl: opts.homeserverUrl,
    accessToken: opts.device.accessToken,
    userId: opts.device.userId,
    deviceId: opts.device.deviceId,
    logger: sdkLogger(opts.log),
  });
  // Crypto state lives in memory only: media keys and Olm sessions never reach disk.
  if (opts.withCrypto) await client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RecorderError(`the session device did not finish its first sync within ${opts.syncTimeoutMs} ms`, 'MRR_SYNC_TIMEOUT')),
      opts.syncTimeoutMs,
    );
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        clearTimeout(timer);
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  // The call user is in every room it ever recorded in; a session needs one of them. Presence
  // and other rooms' timelines would only cost the homeserver and this worker.
  let filter: Filter | undefined;
  if (opts.roomId) {
    filter = new Filter(opts.device.userId);
    filter.setDefinition({ room: { rooms: [opts.roomId] }, presence: { not_types: ['*'] } });
  }
  await client.startClient({ initialSyncLimit: 1, ...(filter ? { filter } : {}) });
  try {
    await prepared;
  } catch (err) {
    client.stopClient();
    throw err;
  }
  // Members' media keys come by sync: back within a second of a homeserver restart, not 5-10 s.
  resumeSyncPromptly(client, opts.homeserverUrl, opts.log);
  return client;
}
