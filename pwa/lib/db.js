// IndexedDB: one open promise, one versioned upgrade, small promise helpers.
//
// Stores
//   kv       key -> value: client_id, session (token + user), cursor, last_sync, lang, aql_tables
//   records  every synced row: {key: "entity:id", entity, id, rev, deleted, fields, inspection_id}
//   outbox   mutations in order (auto-increment seq): {seq, mutation_id, entity, id, op, base_rev,
//            fields, sent}; an entry leaves only when the server has answered for it
//   photos   photo bytes until the server has confirmed their hash: {id, blob, thumb, state, ...}
//   issues   rejected mutations and conflicts to show the inspector
//
// Never await the network inside a transaction: read, close, fetch, then write in a new one.

const NAME = 'lineside';
const VERSION = 1;
let opening = null;

function upgrade(db, oldVersion) {
  if (oldVersion < 1) {
    db.createObjectStore('kv');
    const records = db.createObjectStore('records', { keyPath: 'key' });
    records.createIndex('entity', 'entity');
    records.createIndex('inspection', 'inspection_id');
    db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
    db.createObjectStore('photos', { keyPath: 'id' });
    db.createObjectStore('issues', { keyPath: 'key' });
  }
}

/** The database, opened once per page (or worker). */
export function openDb() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(NAME, VERSION);
      req.onupgradeneeded = (e) => upgrade(req.result, e.oldVersion);
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      req.onerror = () => { opening = null; reject(req.error); };
      req.onblocked = () => console.warn('IndexedDB upgrade blocked by another tab');
    });
  }
  return opening;
}

/** A request as a promise. */
export function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Run `work(tx)` in one transaction; resolves with work's result once the transaction has
 * completed (data is on disk as far as the browser promises), rejects if it aborts.
 */
export async function tx(stores, mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(stores, mode, { durability: 'strict' });
    let result;
    t.oncomplete = () => resolve(result);
    t.onabort = () => reject(t.error || new Error('transaction aborted'));
    t.onerror = () => {};
    Promise.resolve()
      .then(() => work(t))
      .then((r) => { result = r; })
      .catch((err) => { try { t.abort(); } catch { /* already finished */ } reject(err); });
  });
}

export const recordKey = (entity, id) => `${entity}:${id}`;

export async function kvGet(key) {
  return tx(['kv'], 'readonly', (t) => req(t.objectStore('kv').get(key)));
}

export async function kvSet(key, value) {
  return tx(['kv'], 'readwrite', (t) => req(t.objectStore('kv').put(value, key)));
}

export async function getRecord(entity, id) {
  return tx(['records'], 'readonly', (t) => req(t.objectStore('records').get(recordKey(entity, id))));
}

/** Live (not deleted) records of one entity. */
export async function listEntity(entity) {
  const rows = await tx(['records'], 'readonly', (t) => req(t.objectStore('records').index('entity').getAll(entity)));
  return rows.filter((r) => !r.deleted);
}

/** Live records belonging to one inspection. */
export async function listForInspection(inspectionId) {
  const rows = await tx(['records'], 'readonly',
    (t) => req(t.objectStore('records').index('inspection').getAll(inspectionId)));
  return rows.filter((r) => !r.deleted);
}

export async function countStore(name) {
  return tx([name], 'readonly', (t) => req(t.objectStore(name).count()));
}

export async function getAll(name) {
  return tx([name], 'readonly', (t) => req(t.objectStore(name).getAll()));
}

/** Delete everything this user stored (after sign-out with nothing unsynced). */
export async function clearUserData() {
  return tx(['records', 'outbox', 'photos', 'issues', 'kv'], 'readwrite', async (t) => {
    for (const name of ['records', 'outbox', 'photos', 'issues']) t.objectStore(name).clear();
    for (const key of ['session', 'cursor', 'last_sync']) t.objectStore('kv').delete(key);
  });
}
