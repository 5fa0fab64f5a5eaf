// The bot's crypto state across restarts: its device (ID and access token) and the Rust crypto
// store that matrix-js-sdk keeps in (fake) IndexedDB, together in one sealed file. It is written
// after changes settle (at most every `minIntervalMs`) and when the bridge stops, so the device,
// its Olm account and its sessions survive a restart and users see no new unknown device.
import 'fake-indexeddb/auto';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import type { Logger } from '../../observability/logger.ts';
import { registerSecret } from '../../observability/secrets.ts';
import { restoreDatabases, snapshotDatabases, type DatabaseShape } from './indexeddb-snapshot.ts';
import { readSealedFile, SealKey, writeSealedFile } from './sealed-file.ts';

export interface BotDevice {
  userId: string;
  deviceId: string;
  accessToken: string;
}

interface SealedState {
  version: 1;
  device: BotDevice;
  databases: DatabaseShape[];
}

export const CRYPTO_STATE_FILE = 'bot-crypto.sealed';

export class PersistentCryptoState {
  readonly path: string;
  readonly #key: SealKey;
  readonly #log: Logger;
  readonly #minIntervalMs: number;
  #device: BotDevice | undefined;
  #lastDigest = '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, key: SealKey, device: BotDevice | undefined, log: Logger, minIntervalMs: number) {
    this.path = path;
    this.#key = key;
    this.#device = device;
    this.#log = log;
    this.#minIntervalMs = minIntervalMs;
  }

  /**
   * Opens the state in `dir` (a wrong passphrase is an error, never a silent new device) and loads
   * its databases into this process's IndexedDB, which must still be empty.
   */
  static async open(dir: string, passphrase: string, log: Logger, minIntervalMs = 2_000): Promise<PersistentCryptoState> {
    const path = join(dir, CRYPTO_STATE_FILE);
    const opened = readSealedFile<SealedState>(path, passphrase);
    if (!opened) {
      log.info({ path }, 'no crypto store yet: the bot will create its device');
      return new PersistentCryptoState(path, SealKey.derive(passphrase), undefined, log, minIntervalMs);
    }
    const { value, key } = opened;
    registerSecret(value.device.accessToken);
    await restoreDatabases(indexedDB, value.databases);
    log.info({ path, deviceId: value.device.deviceId, databases: value.databases.length }, 'crypto store restored');
    return new PersistentCryptoState(path, key, value.device, log, minIntervalMs);
  }

  get device(): BotDevice | undefined {
    return this.#device;
  }

  /** Key for the SDK's own encryption of what it puts in IndexedDB (defence in depth). */
  get sdkStoreKey(): Uint8Array {
    return this.#key.subkey('matrix-js-sdk-store');
  }

  async setDevice(device: BotDevice): Promise<void> {
    this.#device = device;
    await this.save();
  }

  /** Schedules a save once things settle; cheap to call after every sync. */
  saveSoon(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.save().catch((err: unknown) => this.#log.error({ err, path: this.path }, 'could not save the crypto store'));
    }, this.#minIntervalMs);
  }

  /** Writes the state now if it changed; writes never overlap. */
  save(): Promise<void> {
    const run = this.#writing.then(async () => {
      if (!this.#device) return;
      const state: SealedState = { version: 1, device: this.#device, databases: await snapshotDatabases(indexedDB) };
      const digest = createHash('sha256').update(serialize(state)).digest('hex');
      if (digest === this.#lastDigest) return;
      writeSealedFile(this.path, state, this.#key);
      this.#lastDigest = digest;
    });
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.save();
  }
}
