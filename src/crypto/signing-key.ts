// One ed25519 signing key as Matrix uses it: public keys and signatures in unpadded base64,
// signatures over the canonical JSON of an object without its `signatures` and `unsigned`.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { signingPayload } from './canonical-json.ts';

export const unpaddedBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

// Fixed DER headers (RFC 8410): PKCS#8 private key = header + 32-byte seed; SPKI public key = header + 32 bytes.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The private half stays in a KeyObject, which prints and serialises as `{}`, so logging this object leaks nothing. */
export class SigningKey {
  readonly publicKey: string;
  /** `ed25519:<public key>`, the id every cross-signing key has. */
  readonly keyId: string;
  readonly #privateKey: KeyObject;
  readonly #seed: string;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new Error(`an ed25519 seed has 32 bytes, not ${seed.length}`);
    this.#privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const jwk = createPublicKey(this.#privateKey).export({ format: 'jwk' });
    this.publicKey = unpaddedBase64(Buffer.from(jwk.x!, 'base64url'));
    this.keyId = `ed25519:${this.publicKey}`;
    this.#seed = unpaddedBase64(seed);
  }

  static generate(): SigningKey {
    return new SigningKey(randomBytes(32));
  }

  /** The signature of `object`'s canonical JSON (its signatures and unsigned left out). */
  signObject(object: object): string {
    return unpaddedBase64(sign(null, Buffer.from(signingPayload(object as Record<string, unknown>), 'utf8'), this.#privateKey));
  }

  /** The seed in unpadded base64, for the keys file only. */
  exportSeed(): string {
    return this.#seed;
  }
}

type Signatures = Record<string, Record<string, string>>;

/** A copy of `object` carrying `signer`'s signature under `signatures[userId]`, beside any others. */
export function addSignature<T extends object>(object: T, userId: string, signer: SigningKey): T {
  const signatures = ((object as { signatures?: Signatures }).signatures ?? {}) as Signatures;
  const signature = signer.signObject(object);
  return { ...object, signatures: { ...signatures, [userId]: { ...signatures[userId], [signer.keyId]: signature } } };
}

/** Whether `object` carries a valid signature by `userId`'s ed25519 key `publicKey` (key id `ed25519:<keyName>`). */
export function hasValidSignature(object: object, userId: string, keyName: string, publicKey: string): boolean {
  const signature = (object as { signatures?: Signatures }).signatures?.[userId]?.[`ed25519:${keyName}`];
  if (!signature) return false;
  const raw = Buffer.from(publicKey, 'base64');
  if (raw.length !== 32) return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  return verify(null, Buffer.from(signingPayload(object as Record<string, unknown>), 'utf8'), key, Buffer.from(signature, 'base64'));
}
