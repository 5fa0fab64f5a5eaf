// The bot user as a Matrix client with end-to-end encryption, the way Element runs: matrix-js-sdk
// with Rust crypto, syncing one stable device whose state is kept in a sealed store. It decrypts
// the commands the appservice receives and encrypts everything the bot says in encrypted rooms.
// (Synapse refuses /sync for the appservice's sender, so the bot is a namespaced user.)
import { randomBytes } from 'node:crypto';
import { ClientEvent, createClient, MatrixEvent, MatrixEventEvent, SyncState, type IEvent, type MatrixClient, type Room } from 'matrix-js-sdk';
import { MatrixApiError, RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { registerSecret } from '../observability/secrets.ts';
import { matrixRequest } from '../rtc/http.ts';
import { sdkLogger } from '../rtc/sdk-logger.ts';
import { signOwnDevice } from '../crypto/sign-device.ts';
import { PersistentCryptoState, type BotDevice } from './crypto/persistent-crypto-state.ts';
import { resumeSyncPromptly } from '../rtc/sync-return.ts';

export interface BotClientOptions {
  homeserverUrl: string;
  asToken: string;
  userId: string;
  storeDir: string;
  storeKey: string;
  deviceDisplayName: string;
  syncTimeoutMs: number;
  /** Signs the bot's device with its owner's cross-signing key, when configured. */
  crossSigningKeysFile: string | undefined;
  log: Logger;
}

/** A room event as the appservice receives it. */
export type RawEvent = Partial<IEvent> & { type: string; room_id: string; sender: string; content: Record<string, unknown> };

export interface DecryptedEvent {
  type: string;
  content: Record<string, unknown>;
}

export class BotClient {
  readonly client: MatrixClient;
  readonly device: BotDevice;
  readonly #state: PersistentCryptoState;
  readonly #log: Logger;
  readonly #homeserverUrl: string;
  /** Rooms once seen encrypted (encryption cannot be switched off again). */
  readonly #encryptedRooms = new Set<string>();

  private constructor(client: MatrixClient, device: BotDevice, state: PersistentCryptoState, homeserverUrl: string, log: Logger) {
    this.client = client;
    this.device = device;
    this.#state = state;
    this.#homeserverUrl = homeserverUrl;
    this.#log = log;
  }

  static async start(opts: BotClientOptions): Promise<BotClient> {
    const log = opts.log.child({ module: 'bot-client' });
    const state = await PersistentCryptoState.open(opts.storeDir, opts.storeKey, log);
    const device = await ensureDevice(opts, state.device, log);
    await state.setDevice(device);
    const client = createClient({
      baseUrl: opts.homeserverUrl,
      accessToken: device.accessToken,
      userId: device.userId,
      deviceId: device.deviceId,
      logger: sdkLogger(log),
    });
    await client.initRustCrypto({ useIndexedDB: true, cryptoDatabasePrefix: 'mrr-bot', storageKey: state.sdkStoreKey });
    client.on(ClientEvent.Sync, () => state.saveSoon());
    await firstSync(client, opts.syncTimeoutMs);
    // Room keys for commands typed in encrypted rooms come by sync: back soon after a homeserver restart.
    resumeSyncPromptly(client, opts.homeserverUrl, log);
    const bot = new BotClient(client, device, state, opts.homeserverUrl, log);
    const ownKey = await bot.#checkDeviceKeysPublished();
    await signOwnDevice(opts.homeserverUrl, opts.asToken, opts.crossSigningKeysFile, device.userId, device.deviceId, log, { expectedEd25519Key: ownKey });
    await state.save();
    log.info({ userId: device.userId, deviceId: device.deviceId }, 'bot device ready (end-to-end encryption on)');
    return bot;
  }

  /**
   * Decrypts an `m.room.encrypted` event. The room key may still be on its way (to-device
   * messages come through our sync, the event through the appservice), so a missing key is
   * waited for up to `timeoutMs`; js-sdk retries the event when keys arrive.
   */
  async decrypt(raw: RawEvent, timeoutMs = 20_000): Promise<DecryptedEvent> {
    const event = new MatrixEvent(raw);
    await this.client.decryptEventIfNeeded(event);
    if (event.isDecryptionFailure()) await decryptedLater(event, timeoutMs);
    if (event.isDecryptionFailure()) throw new UndecryptableError(raw, event.decryptionFailureReason ?? 'UNKNOWN_ERROR');
    return { type: event.getType(), content: event.getContent() };
  }

  /** Sends a message event; in an encrypted room it is encrypted, and never sent in the clear. */
  async send(roomId: string, content: Record<string, unknown>, timeoutMs = 30_000): Promise<string> {
    const room = await this.#room(roomId, timeoutMs);
    if (await this.#mustEncrypt(roomId)) await this.#waitForEncryptionState(room, timeoutMs);
    const { event_id } = await this.client.sendMessage(roomId, content as never);
    return event_id;
  }

  async stop(): Promise<void> {
    this.client.stopClient();
    await this.#state.close();
  }

  async #mustEncrypt(roomId: string): Promise<boolean> {
    if (this.#encryptedRooms.has(roomId)) return true;
    try {
      await matrixRequest('reading room encryption', `${this.#homeserverUrl}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/`, {
        accessToken: this.device.accessToken,
      });
    } catch (err) {
      if (err instanceof MatrixApiError && err.errcode === 'M_NOT_FOUND') return false;
      throw err;
    }
    this.#encryptedRooms.add(roomId);
    return true;
  }

  /**
   * The homeserver says the room is encrypted: wait until our crypto knows it too (it learns it
   * from the joined room's state, not from an invite), rather than send in the clear.
   */
  async #waitForEncryptionState(room: Room, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const crypto = this.client.getCrypto();
    if (!crypto) throw new RecorderError('the bot client runs without crypto', 'MRR_NO_CRYPTO');
    while (!(await crypto.isEncryptionEnabledInRoom(room.roomId))) {
      if (Date.now() > deadline) {
        throw new RecorderError(`the bot's client has not seen the encryption of ${room.roomId} yet; not sending in the clear`, 'MRR_ENCRYPTION_STATE');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The room once our client has synced it as joined (the appservice may have joined it a moment ago). */
  async #room(roomId: string, timeoutMs: number): Promise<Room> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const room = this.client.getRoom(roomId);
      if (room?.getMyMembership() === 'join') return room;
      if (Date.now() > deadline) throw new RecorderError(`the bot's client did not see itself joined to ${roomId} within ${timeoutMs} ms`, 'MRR_ROOM_TIMEOUT');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * A store restored for a device the homeserver no longer has (deleted, or the database reset)
   * would keep a device no one can encrypt to. Say so instead of failing quietly later.
   */
  async #checkDeviceKeysPublished(timeoutMs = 15_000): Promise<string> {
    const { userId, deviceId } = this.device;
    const own = (await this.client.getCrypto()?.getOwnDeviceKeys())?.ed25519;
    // A new device uploads its keys shortly after the first sync; a restored one has them already.
    const deadline = Date.now() + timeoutMs;
    let published: string | undefined;
    for (;;) {
      const result = await matrixRequest<{ device_keys?: Record<string, Record<string, { keys?: Record<string, string> }>> }>(
        'reading the bot device keys',
        `${this.#homeserverUrl}/_matrix/client/v3/keys/query`,
        { method: 'POST', accessToken: this.device.accessToken, body: { device_keys: { [userId]: [deviceId] } } },
      );
      published = result.device_keys?.[userId]?.[deviceId]?.keys?.[`ed25519:${deviceId}`];
      if (published === own || (published && published !== own) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!published || published !== own) {
      throw new RecorderError(
        `the homeserver has ${published ? 'other' : 'no'} keys for the bot device ${deviceId} than its crypto store: the store belongs to a device ` +
          `that was deleted or replaced. Move ${this.#state.path} away to start with a new device.`,
        'MRR_DEVICE_KEYS_MISMATCH',
      );
    }
    return published;
  }
}

/**
 * Resolves when js-sdk's retry (run when new room keys arrive) decrypts the event, or after
 * `timeoutMs`. `Decrypted` is emitted for failed attempts too, so only a success ends the wait.
 */
function decryptedLater(event: MatrixEvent, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      event.off(MatrixEventEvent.Decrypted, onDecrypted);
      resolve();
    };
    const onDecrypted = () => {
      if (!event.isDecryptionFailure()) done();
    };
    const timer = setTimeout(done, timeoutMs);
    event.on(MatrixEventEvent.Decrypted, onDecrypted);
  });
}

/** An event the bot could not decrypt; `code` is js-sdk's DecryptionFailureCode. */
export class UndecryptableError extends RecorderError {
  readonly code: string;
  constructor(raw: RawEvent, code: string) {
    super(`could not decrypt ${raw.event_id ?? 'an event'} from ${raw.sender}: ${code}`, 'MRR_UNDECRYPTABLE');
    this.code = code;
  }

  /** The sender's client chose not to share the key with the bot's device. */
  get withheld(): boolean {
    return this.code === 'MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE' || this.code === 'MEGOLM_KEY_WITHHELD';
  }
}

/** The stored device with a working token; a fresh token for the same device; or a new device. */
async function ensureDevice(opts: BotClientOptions, stored: BotDevice | undefined, log: Logger): Promise<BotDevice> {
  if (stored && stored.userId !== opts.userId) {
    throw new RecorderError(
      `the crypto store in ${opts.storeDir} belongs to ${stored.userId}, not to the configured bot ${opts.userId}; point encryption.storeDir elsewhere`,
      'MRR_CRYPTO_STORE_USER',
    );
  }
  if (stored && (await tokenWorks(opts.homeserverUrl, stored))) return stored;
  const deviceId = stored?.deviceId ?? `MRRBOT${randomBytes(4).toString('hex').toUpperCase()}`;
  if (stored) log.info({ deviceId }, 'the stored access token no longer works; logging in the same device again');
  const login = await matrixRequest<{ user_id: string; device_id: string; access_token: string }>('logging in the bot device', `${opts.homeserverUrl}/_matrix/client/v3/login`, {
    method: 'POST',
    accessToken: opts.asToken,
    body: {
      type: 'm.login.application_service',
      identifier: { type: 'm.id.user', user: opts.userId },
      device_id: deviceId,
      initial_device_display_name: opts.deviceDisplayName,
    },
  });
  registerSecret(login.access_token);
  return { userId: login.user_id, deviceId: login.device_id, accessToken: login.access_token };
}

async function tokenWorks(homeserverUrl: string, device: BotDevice): Promise<boolean> {
  try {
    const me = await matrixRequest<{ user_id: string; device_id?: string }>('checking the bot access token', `${homeserverUrl}/_matrix/client/v3/account/whoami`, {
      accessToken: device.accessToken,
    });
    return me.device_id === device.deviceId;
  } catch (err) {
    if (err instanceof MatrixApiError && err.httpStatus === 401) return false;
    throw err;
  }
}

function firstSync(client: MatrixClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(ClientEvent.Sync, onSync);
      client.stopClient();
      reject(new RecorderError(`the bot device did not finish its first sync within ${timeoutMs} ms`, 'MRR_SYNC_TIMEOUT'));
    }, timeoutMs);
    const onSync = (state: SyncState) => {
      if (state !== SyncState.Prepared && state !== SyncState.Syncing) return;
      clearTimeout(timer);
      client.off(ClientEvent.Sync, onSync);
      resolve();
    };
    client.on(ClientEvent.Sync, onSync);
    void client.startClient({ initialSyncLimit: 1, lazyLoadMembers: true });
  });
}
