// A file only the holder of a passphrase can read: any structured-clone value (v8 serialisation),
// sealed with AES-256-GCM under a key derived from the passphrase with scrypt and a per-file salt.
// Written atomically (a crash mid-write leaves the previous version) with mode 0600.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { RecorderError } from '../../errors.ts';

const MAGIC = Buffer.from('MRRSEAL1');
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key of one sealed file; derived once (scrypt is deliberately slow), reused for every write. */
export class SealKey {
  readonly salt: Buffer;
  readonly key: Buffer;

  private constructor(salt: Buffer, key: Buffer) {
    this.salt = salt;
    this.key = key;
  }

  static derive(passphrase: string, salt: Buffer = randomBytes(SALT_BYTES)): SealKey {
    return new SealKey(salt, scryptSync(passphrase, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }));
  }

  /** A further independent key for another purpose (e.g. the SDK's own store encryption). */
  subkey(purpose: string): Uint8Array {
    return new Uint8Array(scryptSync(this.key, `${purpose}:${this.salt.toString('hex')}`, 32, { N: 1 << 10 }));
  }
}

export function seal(value: unknown, key: SealKey): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(MAGIC);
  const body = Buffer.concat([cipher.update(serialize(value)), cipher.final()]);
  return Buffer.concat([MAGIC, key.salt, iv, cipher.getAuthTag(), body]);
}

/** Opens a sealed buffer; the key is derived from the passphrase and the salt the file carries. */
export function unseal<T>(sealed: Buffer, passphrase: string, what: string): { value: T; key: SealKey } {
  if (sealed.length < MAGIC.length + SALT_BYTES + IV_BYTES + TAG_BYTES || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new RecorderError(`${what} is not a sealed matrixrtc-recorder file`, 'MRR_SEALED_FILE');
  }
  let at = MAGIC.length;
  const salt = sealed.subarray(at, (at += SALT_BYTES));
  const iv = sealed.subarray(at, (at += IV_BYTES));
  const tag = sealed.subarray(at, (at += TAG_BYTES));
  const key = SealKey.derive(passphrase, Buffer.from(salt));
  const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
  decipher.setAAD(MAGIC);
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(sealed.subarray(at)), decipher.final()]);
  } catch (err) {
    throw new RecorderError(`cannot open ${what}: wrong passphrase (encryption.storeKey), or the file is damaged`, 'MRR_SEALED_FILE_KEY', { cause: err });
  }
  return { value: deserialize(plain) as T, key };
}

export function readSealedFile<T>(path: string, passphrase: string): { value: T; key: SealKey } | undefined {
  if (!existsSync(path)) return undefined;
  return unseal<T>(readFileSync(path), passphrase, path);
}

export function writeSealedFile(path: string, value: unknown, key: SealKey): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, seal(value, key), { mode: 0o600 });
  renameSync(tmp, path);
}
