// A test user's chat client, built like Element Web: its own device (password login), matrix-js-sdk
// with Rust crypto, syncing. It encrypts what it sends in encrypted rooms and decrypts what it
// reads. Optionally it shares room keys only with devices their owner cross-signed, as Element's
// "exclude insecure devices" does.
import { ClientEvent, createClient, MsgType, SyncState, type MatrixClient, type MatrixEvent, type Room } from 'matrix-js-sdk';
import { OnlySignedDevicesIsolationMode } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import { pino } from 'pino';
import { routeSdkGlobalLogger, sdkLogger } from '../../src/rtc/sdk-logger.ts';
import type { SeenEvent, TestUser } from './matrix.ts';

// js-sdk logs every sync; test output keeps only its errors.
const quiet = pino({ level: 'error' });
routeSdkGlobalLogger(sdkGlobalLogger, quiet);

export interface ChatDeviceOptions {
  /** Share room keys only with devices cross-signed by their owner. */
  onlySignedDevices?: boolean;
}

const running = new Set<ChatDevice>();

export class ChatDevice {
  readonly client: MatrixClient;

  /** Stops every chat device still syncing (after a test file). */
  static stopAll(): void {
    for (const device of running) device.stop();
  }

  private constructor(client: MatrixClient) {
    this.client = client;
  }

  static async start(user: TestUser, opts: ChatDeviceOptions = {}): Promise<ChatDevice> {
    const login = await fetch(`${user.homeserverUrl}/_matrix/client/v3/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: user.userId },
        password: user.password,
        initial_device_display_name: 'Element Web (test)',
      }),
    });
    if (!login.ok) throw new Error(`chat device login for ${user.userId} -> ${login.status} ${await login.text()}`);
    const { access_token, device_id } = (await login.json()) as { access_token: string; device_id: string };
    const client = createClient({ baseUrl: user.homeserverUrl, accessToken: access_token, userId: user.userId, deviceId: device_id, logger: sdkLogger(quiet) });
    await client.initRustCrypto({ useIndexedDB: false });
    if (opts.onlySignedDevices) {
      // Element requires the user's own cross-signing before it applies this mode, and so does js-sdk.
      await client.getCrypto()!.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: (makeRequest) =>
          makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: user.userId }, password: user.password }).then(() => undefined),
      });
      client.getCrypto()!.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
    }
    const synced = new Promise<void>((resolve) => {
      const onSync = (state: SyncState) => {
        if (state !== SyncState.Prepared && state !== SyncState.Syncing) return;
        client.off(ClientEvent.Sync, onSync);
        resolve();
      };
      client.on(ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 50 });
    await synced;
    const device = new ChatDevice(client);
    running.add(device);
    return device;
  }

  async room(roomId: string, timeoutMs = 20_000): Promise<Room> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const room = this.client.getRoom(roomId);
      if (room && room.getMyMembership() === 'join') return room;
      if (Date.now() > deadline) throw new Error(`${this.client.getUserId()}'s chat device did not see ${roomId} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async sendText(roomId: string, body: string): Promise<{ event_id: string }> {
    await this.room(roomId);
    return this.client.sendMessage(roomId, { msgtype: MsgType.Text, body });
  }

  /** The live timeline, newest first, each event decrypted (or marked undecryptable). */
  async recentEvents(roomId: string, limit: number): Promise<SeenEvent[]> {
    const room = await this.room(roomId);
    const events = room.getLiveTimeline().getEvents().slice(-limit).reverse();
    return Promise.all(events.map((e) => this.seen(e)));
  }

  private async seen(event: MatrixEvent): Promise<SeenEvent> {
    await this.client.decryptEventIfNeeded(event);
    return {
      type: event.getType(),
      sender: event.getSender() ?? '',
      event_id: event.getId() ?? '',
      content: event.getContent(),
      encrypted: event.isEncrypted(),
    };
  }

  stop(): void {
    this.client.stopClient();
    running.delete(this);
  }
}
