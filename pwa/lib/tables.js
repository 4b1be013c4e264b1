// Reference data the app needs offline, kept in IndexedDB: the AQL tables and the defect
// library. Fetched when the network is there (the service worker also precaches them).

import { kvGet, kvSet } from './db.js';

// aql.js is loaded only when the tables must be fetched and checked: not on the way to the list.
const checkTables = async (data) => (await import('./aql.js')).checkTables(data);

async function cached(key, url, check = (x) => x) {
  const have = await kvGet(key);
  if (have) return have;
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
  const data = await check(await resp.json());
  await kvSet(key, data);
  return data;
}

/** The parsed ISO 2859-1 tables (from IndexedDB, else fetched and stored). */
export function aqlTables() {
  return cached('aql_tables', '/data/aql_iso2859.json', checkTables);
}

/** The defect library {version, categories: {category: [{code, label, default_class}]}}. */
export function defectLibrary() {
  return cached('defect_library', '/data/defect_library.json');
}

/** Fetch both while online, so the first offline inspection has them. Never throws. */
export async function prefetchReferenceData() {
  await Promise.allSettled([aqlTables(), defectLibrary()]);
}
