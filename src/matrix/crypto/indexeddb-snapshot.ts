// matrix-js-sdk's Rust crypto persists only to IndexedDB, which Node lacks. fake-indexeddb gives
// it one in memory; this module copies every database of it (object stores, indexes, records) to
// plain data and back, so that the caller can keep it in a sealed file (sealed-file.ts).

interface IndexShape {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}

interface StoreShape {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexes: IndexShape[];
  /** [primary key, value] pairs; the key is needed for stores without a key path. */
  records: Array<[IDBValidKey, unknown]>;
}

export interface DatabaseShape {
  name: string;
  version: number;
  stores: StoreShape[];
}

const request = <T>(req: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });

function openDatabase(factory: IDBFactory, name: string, version?: number, upgrade?: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, version);
    req.onupgradeneeded = () => upgrade?.(req.result);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error(`opening IndexedDB ${name} failed`));
    req.onblocked = () => reject(new Error(`opening IndexedDB ${name} was blocked`));
  });
}

async function readStore(tx: IDBTransaction, name: string): Promise<StoreShape> {
  const store = tx.objectStore(name);
  const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
  const indexes = Array.from(store.indexNames).map((indexName) => {
    const index = store.index(indexName);
    return { name: indexName, keyPath: index.keyPath, unique: index.unique, multiEntry: index.multiEntry };
  });
  return { name, keyPath: store.keyPath, autoIncrement: store.autoIncrement, indexes, records: keys.map((k, i) => [k, values[i]]) };
}

/** Every database of `factory` as plain data. */
export async function snapshotDatabases(factory: IDBFactory): Promise<DatabaseShape[]> {
  const out: DatabaseShape[] = [];
  for (const info of await factory.databases()) {
    if (!info.name) continue;
    const db = await openDatabase(factory, info.name);
    try {
      // One transaction over all stores: a consistent view even while the SDK writes.
      const names = Array.from(db.objectStoreNames);
      const tx = names.length > 0 ? db.transaction(names, 'readonly') : undefined;
      const stores = tx ? await Promise.all(names.map((n) => readStore(tx, n))) : [];
      out.push({ name: info.name, version: db.version, stores });
    } finally {
      db.close();
    }
  }
  return out;
}

/** Recreates databases from a snapshot in an empty `factory`. */
export async function restoreDatabases(factory: IDBFactory, databases: DatabaseShape[]): Promise<void> {
  for (const shape of databases) {
    const db = await openDatabase(factory, shape.name, shape.version, (fresh) => {
      for (const s of shape.stores) {
        const store = fresh.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
        for (const i of s.indexes) store.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
      }
    });
    try {
      if (shape.stores.length === 0) continue;
      const tx = db.transaction(
        shape.stores.map((s) => s.name),
        'readwrite',
      );
      for (const s of shape.stores) {
        const store = tx.objectStore(s.name);
        for (const [key, value] of s.records) store.put(value, s.keyPath === null ? key : undefined);
      }
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error ?? new Error(`restoring IndexedDB ${shape.name} failed`));
      });
    } finally {
      db.close();
    }
  }
}
