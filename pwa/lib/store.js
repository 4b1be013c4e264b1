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

export const newId = uuid;
