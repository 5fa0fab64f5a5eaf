// Matrix encrypted attachments (client-server spec, "Sending encrypted attachments"):
// AES-256-CTR with a fresh key per file, a 128-bit IV whose low 64 bits (the counter) start at
// zero, and the SHA-256 of the ciphertext, all described by an EncryptedFile object.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';

export interface EncryptedFile {
  url: string;
  key: { kty: 'oct'; key_ops: ['encrypt', 'decrypt']; alg: 'A256CTR'; k: string; ext: true };
  iv: string;
  hashes: { sha256: string };
  v: 'v2';
}

const unpadded = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/**
 * A transform that encrypts what passes through; `file(url)` describes the result once the input
 * has ended. It waits for that: a server may answer the upload as soon as it has every byte,
 * before the stream has run its flush.
 */
export function attachmentEncryptor(): { stream: Transform; file(url: string): Promise<EncryptedFile> } {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const hash = createHash('sha256');
  let flushed!: (digest: Buffer) => void;
  let failed!: (err: Error) => void;
  const digest = new Promise<Buffer>((resolve, reject) => {
    flushed = resolve;
    failed = reject;
  });
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const out = cipher.update(chunk);
      hash.update(out);
      done(null, out);
    },
    flush(done) {
      const out = cipher.final();
      hash.update(out);
      flushed(hash.digest());
      done(null, out);
    },
  });
  stream.once('error', failed);
  return {
    stream,
    async file(url) {
      const sha256 = await digest;
      return {
        url,
        key: { kty: 'oct', key_ops: ['encrypt', 'decrypt'], alg: 'A256CTR', k: key.toString('base64url'), ext: true },
        iv: unpadded(iv),
        hashes: { sha256: unpadded(sha256) },
        v: 'v2',
      };
    },
  };
}

/** Checks the hash and decrypts (what a receiving client does). */
export function decryptAttachment(ciphertext: Buffer, file: EncryptedFile): Buffer {
  const digest = unpadded(createHash('sha256').update(ciphertext).digest());
  if (digest !== file.hashes.sha256) throw new Error('the attachment does not match its sha256 hash');
  const decipher = createDecipheriv('aes-256-ctr', Buffer.from(file.key.k, 'base64url'), Buffer.from(file.iv, 'base64'));
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
