// Local writes: the record and its outbox mutation land in one IndexedDB transaction, so
// "Saved" (shown when the returned promise resolves) means both are on the phone.

import { recordKey, req, tx } from './db.js';

const uuid = () => crypto.randomUUID();

function inspectionOf(entity, id, fields) {
  return entity === 'inspection' ? id : (fields.inspection_id ?? null);
}

/**
 * Write `fields` of one record locally and queue the mutation. `local` fields are kept on
 * the phone only (values the server computes itself, e.g. a measurement's value_si).
 * Consecutive edits of the same record merge into its last unsent outbox entry, so an
 * inspector typing a note does not queue one mutation per keystroke.
 * @returns {Promise<object>} the stored record, once the transaction has completed
 */
export function saveRecord(entity, id, fields, { op = 'upsert', photo = null, local = {} } = {}) {
  const stores = photo ? ['records', 'outbox', 'photos'] : ['records', 'outbox'];
  return tx(stores, 'readwrite', async (t) => {
    const records = t.objectStore('records');
    const outbox = t.objectStore('outbox');
    const key = recordKey(entity, id);
    const existing = await req(records.get(key));
    const record = existing ?? { key, entity, id, rev: null, deleted: false, fields: {} };
    record.fields = { ...record.fields, ...fields, ...local };
    record.deleted = op === 'delete';
    record.inspection_id = inspectionOf(entity, id, record.fields);
    record.local_at = Date.now();
    records.put(record);

    const cursor = await req(outbox.openCursor(null, 'prev'));
    const last = cursor?.value;
    if (last && !last.sent && last.entity === entity && last.id === id && last.op === op) {
      last.fields = { ...last.fields, ...fields };
      cursor.update(last);
    } else {
      outbox.add({
        mutation_id: uuid(), entity, id, op, base_rev: existing?.rev ?? null,
        fields: op === 'delete' ? {} : { ...fields }, sent: false, queued_at: Date.now(),
      });
    }
    if (photo) t.objectStore('photos').put(photo);
    return record;
  });
}

/** Mark a record deleted locally and queue the delete. */
export function deleteRecord(entity, id) {
  return saveRecord(entity, id, {}, { op: 'delete' });
}

/** The fields a phone may write per entity (docs/sync-protocol.md): what a re-created record sends. */
const WRITABLE = {
  response: ['inspection_id', 'item_key', 'unit_index', 'value', 'note'],
  measurement: ['inspection_id', 'dimension_spec_id', 'unit_index', 'value_entered', 'unit_entered', 'source', 'photo_id'],
  defect: ['inspection_id', 'code', 'defect_class', 'count', 'unit_index', 'note'],
};

/**
 * Undo a delete. While the delete has not been sent it simply leaves the outbox and the record
 * comes back as it was. Once sent, the server keeps the tombstone (a delete beats an edit), so
 * the record is made again under a new id with the same values; a photo whose bytes are gone
 * cannot be made again (answers null).
 * @returns {Promise<string|null>} the id of the restored record
 */
export function undoDelete(entity, id) {
  return tx(['records', 'outbox', 'photos'], 'readwrite', async (t) => {
    const records = t.objectStore('records');
    const outbox = t.objectStore('outbox');
    const rec = await req(records.get(recordKey(entity, id)));
    if (!rec) return null;
    const queued = (await req(outbox.getAll())).filter((e) => e.entity === entity && e.id === id && e.op === 'delete');
    const unsent = queued.find((e) => !e.sent);
    if (unsent) {
      outbox.delete(unsent.seq);
      records.put({ ...rec, deleted: false, local_at: Date.now() });
      if (entity === 'photo') {
        const p = await req(t.objectStore('photos').get(id));
        if (p && p.state === 'deleted') t.objectStore('photos').put({ ...p, state: p.state_before ?? 'pending' });
      }
      return id;
    }
    const names = WRITABLE[entity];
    if (!names) return null;
    const fields = Object.fromEntries(names.filter((n) => n in rec.fields).map((n) => [n, rec.fields[n]]));
    const again = uuid();
    records.put({ ...rec, key: recordKey(entity, again), id: again, rev: null, deleted: false, server: undefined,
      fields: { ...rec.fields }, local_at: Date.now() });
    outbox.add({ mutation_id: uuid(), entity, id: again, op: 'upsert', base_rev: null, fields, sent: false,
      queued_at: Date.now() });
    return again;
  });
}

/** Delete a photo: its record and mutation as any delete; its bytes stay until the delete is synced (undo). */
export function deletePhoto(id) {
  return tx(['records', 'outbox', 'photos'], 'readwrite', async (t) => {
    const records = t.objectStore('records');
    const key = recordKey('photo', id);
    const rec = await req(records.get(key));
    if (!rec) return null;
    records.put({ ...rec, deleted: true, local_at: Date.now() });
    t.objectStore('outbox').add({ mutation_id: uuid(), entity: 'photo', id, op: 'delete', base_rev: rec.rev ?? null,
      fields: {}, sent: false, queued_at: Date.now() });
    const p = await req(t.objectStore('photos').get(id));
    if (p) t.objectStore('photos').put({ ...p, state: 'deleted', state_before: p.state });
    return rec;
  });
}

export const newId = uuid;
