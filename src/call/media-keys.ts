// Media keys of the call's members, as matrix-js-sdk's MatrixRTCSession delivers them (Olm
// to-device `io.element.call.encryption_keys`, decrypted), held in process memory only and
// applied to every LiveKit connection under the exact identity the sender connects with. Keys
// may arrive before a connection or participant exists; a new connection gets all of them.

export type KeyApplier = (identity: string, index: number, key: Uint8Array) => void;

export class MediaKeys {
  readonly #keys = new Map<string, Map<number, Uint8Array>>();
  readonly #appliers = new Set<KeyApplier>();

  /** Records a key and applies it everywhere (a newer key for the same index replaces the old one). */
  set(identity: string, index: number, key: Uint8Array): void {
    let byIndex = this.#keys.get(identity);
    if (!byIndex) this.#keys.set(identity, (byIndex = new Map()));
    byIndex.set(index, key);
    for (const apply of this.#appliers) apply(identity, index, key);
  }

  /** Adds a connection's applier and replays every key known so far into it. */
  attach(apply: KeyApplier): () => void {
    for (const [identity, byIndex] of this.#keys) for (const [index, key] of byIndex) apply(identity, index, key);
    this.#appliers.add(apply);
    return () => this.#appliers.delete(apply);
  }

  has(identity: string): boolean {
    return (this.#keys.get(identity)?.size ?? 0) > 0;
  }

  /** Which identities have keys, and which indexes (never the key bytes): for logs and reports. */
  describe(): Record<string, number[]> {
    return Object.fromEntries([...this.#keys].map(([identity, byIndex]) => [identity, [...byIndex.keys()]]));
  }

  /** Overwrites the key bytes before dropping them, so they do not linger in memory. */
  clear(): void {
    for (const byIndex of this.#keys.values()) for (const key of byIndex.values()) key.fill(0);
    this.#keys.clear();
    this.#appliers.clear();
  }
}
