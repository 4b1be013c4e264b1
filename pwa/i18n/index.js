// Translation: t(KEY, {param}) looks KEY up in the current language, then in English.

import en from './en.js';

export const LANGUAGES = Object.freeze({ en: 'English', 'zh-CN': '简体中文' });
let current = 'en';
let dict = en;

/** The current language code. */
export function lang() {
  return current;
}

/** Switch language (loads its strings); unknown codes fall back to English. */
export async function setLang(code) {
  current = Object.hasOwn(LANGUAGES, code) ? code : 'en';
  dict = current === 'zh-CN' ? (await import('./zh-CN.js')).default : en;
  document.documentElement.lang = current;
  return current;
}

/** The string for `key` with {name} parameters filled in. */
export function t(key, params = {}) {
  // "1 photo", not "1 photos": a KEY.one string, where the language has one, when n is 1.
  const one = params.n === 1 ? dict[`${key}.one`] : undefined;
  const s = one ?? dict[key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** A reason code (flag, verdict, alert level) in words; an unknown code with spaces for underscores. */
export function reasonText(code) {
  const key = `reason.${code}`;
  const s = t(key);
  return s === key ? String(code).replace(/_/g, ' ') : s;
}

/** The browser's preferred language among ours. */
export function preferredLang() {
  for (const l of navigator.languages ?? [navigator.language]) {
    if (/^zh/i.test(l)) return 'zh-CN';
    if (/^en/i.test(l)) return 'en';
  }
  return 'en';
}

/** Date and time in the current language. */
export function when(ms) {
  return new Date(ms).toLocaleString(current, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A time of day (today) or a short date and time (earlier), in the current language. */
export function clock(ms) {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString(current, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(current, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** A byte count in plain words. */
export function bytes(n) {
  if (n < 1024) return t('storage.bytes', { n });
  if (n < 1024 ** 2) return t('storage.kb', { n: (n / 1024).toFixed(0) });
  if (n < 1024 ** 3) return t('storage.mb', { n: (n / 1024 ** 2).toFixed(1) });
  return t('storage.gb', { n: (n / 1024 ** 3).toFixed(1) });
}
